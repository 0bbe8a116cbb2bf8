// Locates the npm packages of tests/deps (installed by scripts/test-deps with `npm ci`) and loads
// them. The scripts in this directory are ES modules; bare `import`s would only search
// node_modules above this directory, but the test dependencies live in target/test-deps (or
// $CODEX_ATTEST_TEST_DEPS). So we resolve them with createRequire from the first directory that
// has node_modules/@sigstore/verify:
//   1. $CODEX_ATTEST_TEST_DEPS (the directory holding node_modules/)
//   2. each entry of $NODE_PATH (a node_modules directory, or its parent)
//   3. <repo>/target/test-deps, <repo>/tests/deps
//   4. this directory and its parents (ordinary Node resolution)
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');

function candidates() {
  const out = [];
  if (process.env.CODEX_ATTEST_TEST_DEPS) out.push(process.env.CODEX_ATTEST_TEST_DEPS);
  for (const p of (process.env.NODE_PATH || '').split(path.delimiter).filter(Boolean)) {
    out.push(path.basename(p) === 'node_modules' ? path.dirname(p) : p);
  }
  out.push(path.join(repo, 'target', 'test-deps'), path.join(repo, 'tests', 'deps'));
  for (let d = here; ; d = path.dirname(d)) {
    out.push(d);
    if (path.dirname(d) === d) break;
  }
  return out;
}

function findBase() {
  for (const dir of candidates()) {
    if (existsSync(path.join(dir, 'node_modules', '@sigstore', 'verify', 'package.json'))) {
      return dir;
    }
  }
  throw new Error(
    'cannot find node_modules/@sigstore/verify: run scripts/test-deps, or set ' +
      'CODEX_ATTEST_TEST_DEPS to the directory where `npm ci` installed tests/deps'
  );
}

export const depsDir = findBase();
export const requireDep = createRequire(path.join(depsDir, 'package.json'));

export function depVersion(name) {
  return requireDep(`${name}/package.json`).version;
}
