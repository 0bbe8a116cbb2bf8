//! The performance benchmarks of `BENCHMARKS.md` (issue 7): one harness that builds its own
//! fixtures and prints every figure next to the baseline it is compared with, both measured in the
//! same run on the same machine.
//!
//! ```text
//! cargo bench --bench perf                 # the full run (100,000 files, 1 GiB ignored, ...)
//! cargo bench --bench perf -- --smoke      # tiny sizes, no thresholds
//! cargo test --all-targets                 # runs the smoke mode too (no `--bench` argument)
//! cargo bench --bench perf -- --only wrap,verify --runs 7
//! cargo bench --bench perf -- --only wrap --changes 1 --trace   # print the phases of each run
//! cargo bench --bench perf -- --only wrap --model-latency-ms 1000   # a model that thinks for 1 s
//! CARGO_PROFILE_BENCH_DEBUG=true cargo bench --bench perf -- --only wrap --perf DIR   # profiles
//! ```
//!
//! Groups: `hash` (FileDigests against `sha256sum`), `verify` (against Python securesystemslib),
//! `rss` (peak RSS of `wrap` around 1 GiB of JSONL), `wrap` (wrap overhead against `git status`
//! and against hashing the whole tree). Timings are medians of `--runs` runs with a warm page
//! cache; `wrap` runs alternate with the plain Codex runs they are compared with.
//!
//! Needs the test dependencies (`scripts/test-deps`): the real Codex CLI and the Python venv with
//! securesystemslib, found at `$CODEX_ATTEST_TEST_DEPS` or `target/test-deps`.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use codex_attest::dsse::Envelope;
use codex_attest::keys::{Algorithm, PrivateKey};
use codex_attest::model_server::{ModelServer, Turn};
use serde_json::json;

const WRAP_BIN: &str = env!("CARGO_BIN_EXE_codex-attest");

struct Opts {
    smoke: bool,
    only: Option<Vec<String>>,
    runs: usize,
    files: usize,
    small_files: usize,
    ignored_mb: usize,
    changes: Vec<usize>,
    envelopes: usize,
    jsonl_mib: usize,
    /// Print the timed phases (`-vv`) of each wrapped run.
    trace: bool,
    /// How long the scripted model takes to answer each request (0: at once).
    model_latency_ms: u64,
    /// Record each wrapped run with `perf record` into this directory.
    perf: Option<PathBuf>,
}

impl Opts {
    fn parse() -> Opts {
        let args: Vec<String> = std::env::args().skip(1).collect();
        // `cargo bench` passes `--bench`; `cargo test --all-targets` (the test suite) runs this
        // harness without it, and then gets the smoke run, so the harness cannot rot.
        let smoke = args.iter().any(|a| a == "--smoke") || !args.iter().any(|a| a == "--bench");
        let mut opts = if smoke {
            Opts {
                smoke,
                only: None,
                runs: 1,
                files: 2_000,
                small_files: 500,
                ignored_mb: 4,
                changes: vec![1, 10],
                envelopes: 200,
                jsonl_mib: 8,
                trace: false,
                model_latency_ms: 0,
                perf: None,
            }
        } else {
            Opts {
                smoke,
                only: None,
                runs: 5,
                files: 100_000,
                small_files: 10_000,
                ignored_mb: 1024,
                changes: vec![1, 100, 10_000],
                envelopes: 10_000,
                jsonl_mib: 1024,
                trace: false,
                model_latency_ms: 0,
                perf: None,
            }
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = || it.next().cloned().unwrap_or_default();
            match arg.as_str() {
                "--only" => opts.only = Some(value().split(',').map(str::to_string).collect()),
                "--runs" => opts.runs = value().parse().expect("--runs N"),
                "--trace" => opts.trace = true,
                "--perf" => opts.perf = Some(PathBuf::from(value())),
                "--model-latency-ms" => {
                    opts.model_latency_ms = value().parse().expect("--model-latency-ms N")
                }
                "--files" => opts.files = value().parse().expect("--files N"),
                // 0 skips the smaller repository of the flatness check.
                "--small-files" => opts.small_files = value().parse().expect("--small-files N"),
                "--ignored-mb" => opts.ignored_mb = value().parse().expect("--ignored-mb N"),
                "--changes" => {
                    opts.changes = value()
                        .split(',')
                        .map(|n| n.parse().expect("--changes N,N"))
                        .collect()
                }
                // `cargo bench` passes `--bench`; filters are not used.
                _ => {}
            }
        }
        opts
    }

    fn wants(&self, group: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|g| g == group))
    }
}

/// One line of the results table.
struct Row {
    what: String,
    ours: String,
    baseline: String,
    ratio: String,
    target: String,
}

struct Report {
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Report {
    fn row(&mut self, what: &str, ours: String, baseline: String, ratio: String, target: &str) {
        eprintln!("  {what}: {ours} vs {baseline} -> {ratio} (target {target})");
        self.rows.push(Row {
            what: what.to_string(),
            ours,
            baseline,
            ratio,
            target: target.to_string(),
        });
    }
}

fn main() {
    let opts = Opts::parse();
    let root = bench_root();
    std::fs::create_dir_all(&root).unwrap();
    let mut report = Report {
        rows: Vec::new(),
        notes: Vec::new(),
    };
    eprintln!(
        "bench: {} mode, {} run(s) per figure, work dir {}",
        if opts.smoke { "smoke" } else { "full" },
        opts.runs,
        root.display()
    );
    report.notes.push(format!("load before: {}", load()));
    if opts.wants("hash") {
        bench_hash(&opts, &root, &mut report);
    }
    if opts.wants("verify") {
        bench_verify(&opts, &root, &mut report);
    }
    if opts.wants("rss") {
        bench_rss(&opts, &root, &mut report);
    }
    if opts.wants("wrap") {
        bench_wrap(&opts, &root, &mut report);
    }
    report.notes.push(format!("load after: {}", load()));

    let mut out = String::new();
    writeln!(
        out,
        "| measure | codex-attest | baseline | ratio | target |"
    )
    .unwrap();
    writeln!(out, "|---|---|---|---|---|").unwrap();
    for r in &report.rows {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            r.what, r.ours, r.baseline, r.ratio, r.target
        )
        .unwrap();
    }
    for n in &report.notes {
        writeln!(out, "\n{n}").unwrap();
    }
    println!("{out}");
}

fn bench_root() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("bench")
}

fn test_deps() -> PathBuf {
    std::env::var_os("CODEX_ATTEST_TEST_DEPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-deps"))
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn time<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed(), out)
}

fn secs(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    } else if d < Duration::from_secs(10) {
        format!("{:.0} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

fn run_ok(cmd: &mut Command) {
    let status = cmd.status().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed: {status}");
}

fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .stdout(Stdio::null());
    cmd
}

// ---------------------------------------------------------------------------------------------
// Fixtures

/// The path of tracked file `i`: 10 files... nested four levels, 100 files per directory.
fn fixture_file(i: usize) -> String {
    format!(
        "src/m{}/p{}/q{}/f{i}.txt",
        i / 10_000,
        (i / 1_000) % 10,
        (i / 100) % 10
    )
}

/// A repository of `files` tracked files in nested directories and an ignored `build/` of
/// `ignored_mb` MiB (1 MiB files, 100 per directory). Built once and reused (marker file).
fn fixture(root: &Path, files: usize, ignored_mb: usize) -> PathBuf {
    let dir = root.join(format!("fixture-{files}-{ignored_mb}"));
    let repo = dir.join("repo");
    if dir.join("complete").exists() {
        reset(&repo);
        return repo;
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("bench: building fixture {}", dir.display());
    std::fs::create_dir_all(&repo).unwrap();
    for i in 0..files {
        let path = repo.join(fixture_file(i));
        if i % 100 == 0 {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        }
        std::fs::write(&path, format!("file {i}\n").repeat(10 + i % 50)).unwrap();
    }
    std::fs::write(repo.join(".gitignore"), "build/\n").unwrap();
    // Pseudo-random content, so no filesystem or hash shortcut applies.
    let mut block = vec![0u8; 1 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in block.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    for j in 0..ignored_mb {
        let d = repo.join(format!("build/obj/{}", j / 100));
        if j % 100 == 0 {
            std::fs::create_dir_all(&d).unwrap();
        }
        block[..8].copy_from_slice(&(j as u64).to_le_bytes());
        std::fs::write(d.join(format!("o{j}.bin")), &block).unwrap();
    }
    run_ok(git(&repo).args(["init", "-q", "-b", "main"]));
    run_ok(git(&repo).args(["add", "-A"]));
    run_ok(git(&repo).args(["commit", "-q", "-m", "fixture"]));
    std::fs::write(dir.join("complete"), "").unwrap();
    repo
}

/// Back to the committed state: tracked files restored, untracked files removed (ignored ones
/// kept), the store of recorded runs kept.
/// `codex-attest watch` serving a fixture, stopped when dropped.
struct Service {
    child: std::process::Child,
    repo: PathBuf,
}

impl Service {
    fn start(repo: &Path) -> Service {
        assert!(
            !Service::answers(repo),
            "a watch service already serves {}: stop it (`codex-attest watch --stop`)",
            repo.display()
        );
        let child = Command::new(WRAP_BIN)
            .args(["-q", "watch"])
            .current_dir(repo)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let service = Service {
            child,
            repo: repo.to_path_buf(),
        };
        for _ in 0..600 {
            if Service::answers(repo) {
                return service;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the watch service did not answer within 30 s");
    }

    /// Whether a watch service answers in `repo` (`wrap` would use it).
    fn answers(repo: &Path) -> bool {
        Command::new(WRAP_BIN)
            .args(["watch", "--status"])
            .current_dir(repo)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Waits until the service has taken in every change so far; returns how long it took.
    fn settle(&self) -> Duration {
        let (elapsed, ok) = time(|| Service::answers(&self.repo));
        assert!(ok, "the watch service stopped answering");
        elapsed
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = Command::new(WRAP_BIN)
            .args(["-q", "watch", "--stop"])
            .current_dir(&self.repo)
            .status();
        let _ = self.child.wait();
    }
}

fn reset(repo: &Path) {
    run_ok(git(repo).args(["reset", "-q", "--hard"]));
    run_ok(git(repo).args(["clean", "-q", "-fd"]));
}

/// Every regular file under `dir`, `.git/` excluded.
fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let ty = entry.file_type().unwrap();
        if ty.is_dir() {
            if entry.file_name() != ".git" {
                all_files(&entry.path(), out);
            }
        } else if ty.is_file() {
            out.push(entry.path());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// hash: FileDigests against sha256sum

fn bench_hash(opts: &Opts, root: &Path, report: &mut Report) {
    eprintln!("bench: hash");
    let repo = fixture(root, opts.files, opts.ignored_mb);
    // Large files: the ignored build directory. Small files: 10,000 tracked files.
    let mut big = Vec::new();
    all_files(&repo.join("build"), &mut big);
    big.sort();
    let small: Vec<PathBuf> = (0..opts.files.min(10_000))
        .map(|i| repo.join(fixture_file(i)))
        .collect();
    for (label, files) in [("large files", &big), ("small files", &small)] {
        let bytes: u64 = files
            .iter()
            .map(|f| std::fs::metadata(f).unwrap().len())
            .sum();
        let mut ours = Vec::new();
        let mut base = Vec::new();
        // Warm the cache once.
        let _ = codex_attest::digest::digest_files(files);
        for _ in 0..opts.runs.max(3) {
            ours.push(
                time(|| {
                    let results = codex_attest::digest::digest_files(files);
                    assert!(results.iter().all(|r| r.is_ok()));
                })
                .0,
            );
            base.push(
                time(|| {
                    // sha256sum on the same files, as many per process as xargs would pass.
                    for chunk in files.chunks(2_000) {
                        run_ok(Command::new("sha256sum").args(chunk).stdout(Stdio::null()));
                    }
                })
                .0,
            );
        }
        let (ours, base) = (median(ours), median(base));
        let mbps = |d: Duration| bytes as f64 / d.as_secs_f64() / 1e6;
        report.row(
            &format!(
                "hash throughput, {} {label} ({} MB): sha256 + git blob id",
                files.len(),
                bytes / 1_000_000
            ),
            format!("{:.0} MB/s ({})", mbps(ours), secs(ours)),
            format!("sha256sum {:.0} MB/s ({})", mbps(base), secs(base)),
            format!("{:.2}x", base.as_secs_f64() / ours.as_secs_f64()),
            ">= 0.9x",
        );
    }
}

// ---------------------------------------------------------------------------------------------
// verify: codex-attest verify against Python securesystemslib

fn bench_verify(opts: &Opts, root: &Path, report: &mut Report) {
    eprintln!("bench: verify");
    let dir = root.join(format!("verify-{}", opts.envelopes));
    let bundle = dir.join("envelopes.intoto.jsonl");
    let pubkey = dir.join("key.pub");
    if !bundle.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let key = PrivateKey::generate(Algorithm::Ed25519).unwrap().private;
        std::fs::write(&pubkey, key.public_key().to_pem()).unwrap();
        let mut out = std::io::BufWriter::new(std::fs::File::create(&bundle).unwrap());
        for i in 0..opts.envelopes {
            let statement = statement_of_about_3k(i);
            let env = Envelope::sign(
                codex_attest::dsse::IN_TOTO_PAYLOAD_TYPE,
                statement.as_bytes(),
                &[&key],
            )
            .unwrap();
            writeln!(out, "{}", env.to_json_line()).unwrap();
        }
        out.flush().unwrap();
        // Halves, for two Python processes.
        let text = std::fs::read_to_string(&bundle).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let (a, b) = lines.split_at(lines.len() / 2);
        std::fs::write(dir.join("half-0.jsonl"), a.join("\n") + "\n").unwrap();
        std::fs::write(dir.join("half-1.jsonl"), b.join("\n") + "\n").unwrap();
    }
    let size = std::fs::metadata(&bundle).unwrap().len() / opts.envelopes as u64;
    let n = opts.envelopes as f64;
    let verify = |jobs: &str, cpus: &str| {
        let mut cmd = Command::new("taskset");
        cmd.args([
            "-c", cpus, WRAP_BIN, "verify", "--jobs", jobs, "--format", "json", "--key",
        ])
        .arg(&pubkey)
        .arg(&bundle)
        .stdout(Stdio::null());
        time(|| run_ok(&mut cmd)).0
    };
    let python = test_deps().join("venv/bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/sslib_verify_many.py");
    let sslib = |files: &[PathBuf], cpus: &[&str]| {
        time(|| {
            let children: Vec<_> = files
                .iter()
                .zip(cpus)
                .map(|(f, cpu)| {
                    Command::new("taskset")
                        .args(["-c", cpu])
                        .arg(&python)
                        .arg(&script)
                        .arg(f)
                        .arg(&pubkey)
                        .stdout(Stdio::null())
                        .spawn()
                        .unwrap()
                })
                .collect();
            for mut c in children {
                assert!(
                    c.wait().unwrap().success(),
                    "securesystemslib verification failed"
                );
            }
        })
        .0
    };
    let halves = [dir.join("half-0.jsonl"), dir.join("half-1.jsonl")];
    let (mut one, mut two, mut py1, mut py2) = (vec![], vec![], vec![], vec![]);
    for _ in 0..opts.runs.max(3) {
        one.push(verify("1", "0"));
        two.push(verify("2", "0,1"));
        py1.push(sslib(std::slice::from_ref(&bundle), &["0"]));
        py2.push(sslib(&halves, &["0", "1"]));
    }
    let rate = |d: Duration| n / d.as_secs_f64();
    let (one, two, py1, py2) = (median(one), median(two), median(py1), median(py2));
    report.row(
        &format!(
            "verify, {} Ed25519 envelopes of {size} B, 1 core",
            opts.envelopes
        ),
        format!("{:.0}/s ({})", rate(one), secs(one)),
        format!("securesystemslib {:.0}/s ({})", rate(py1), secs(py1)),
        format!("{:.2}x", rate(one) / rate(py1)),
        ">= 20,000/s and >= 2.5x",
    );
    report.row(
        &format!(
            "verify, {} envelopes, 2 cores (`--jobs 2` / 2 processes)",
            opts.envelopes
        ),
        format!("{:.0}/s ({})", rate(two), secs(two)),
        format!(
            "securesystemslib 1 core {:.0}/s, 2 processes {:.0}/s",
            rate(py1),
            rate(py2)
        ),
        format!("{:.2}x of 1 core", rate(two) / rate(py1)),
        ">= 4x",
    );
}

/// An in-toto Statement v1 of about 3 KB (a 4 KB envelope once base64-encoded).
fn statement_of_about_3k(i: usize) -> String {
    let subjects: Vec<_> = (0..12)
        .map(|j| {
            json!({"name": format!("src/module{j}/file{i}.rs"),
                   "digest": {"sha256": format!("{:064x}", i * 100 + j), "gitBlob": format!("{:040x}", i * 100 + j)}})
        })
        .collect();
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subjects,
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://codex-attest.dev/codex-run/v1",
                "externalParameters": {"argv": ["codex", "exec", "--json", format!("task {i}")], "workingDirectory": "."},
                "internalParameters": {},
                "resolvedDependencies": [{"name": "AGENTS.md", "digest": {"sha256": format!("{:064x}", i)}}]
            },
            "runDetails": {"builder": {"id": "https://codex-attest.dev/wrap"}, "metadata": {"invocationId": format!("run-{i}")}}
        }
    })
    .to_string()
}

// ---------------------------------------------------------------------------------------------
// rss: wrap around a command that prints 1 GiB of JSONL

fn bench_rss(opts: &Opts, root: &Path, report: &mut Report) {
    eprintln!("bench: rss");
    let dir = root.join("rss");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let repo = dir.join("repo");
    if !repo.join(".git").exists() {
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(repo.join("README.md"), "rss\n").unwrap();
        run_ok(git(&repo).args(["init", "-q", "-b", "main"]));
        run_ok(git(&repo).args(["add", "-A"]));
        run_ok(git(&repo).args(["commit", "-q", "-m", "rss"]));
    }
    // A stand-in named `codex`, so wrap captures its `--json` stream: 128-byte event lines.
    let line =
        r#"{"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"PAD"}}"#;
    let line = line.replace("PAD", &"x".repeat(127 - (line.len() - 3)));
    assert_eq!(line.len() + 1, 128);
    let lines = opts.jsonl_mib * (1 << 20) / 128;
    let fake = bin.join("codex");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'codex-cli 0.169.0'; exit 0; fi\nyes '{line}' | head -n {lines}\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(dir.join("codex_home")).unwrap();
    // GNU time: the peak RSS of the process it starts (a small C program, so nothing of a larger
    // parent is counted in the forked child before exec).
    let maxrss_kib = |args: &[&OsStr]| -> u64 {
        let out = Command::new("/usr/bin/time")
            .args(["-f", "maxrss=%M"])
            .args(args)
            .current_dir(&repo)
            .env("CODEX_HOME", dir.join("codex_home"))
            .env("HOME", &dir)
            .stdout(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        stderr
            .lines()
            .find_map(|l| l.strip_prefix("maxrss="))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no maxrss in {stderr}"))
    };
    let (elapsed, wrapped) = time(|| {
        maxrss_kib(&[
            WRAP_BIN.as_ref(),
            "wrap".as_ref(),
            "--".as_ref(),
            fake.as_os_str(),
            "exec".as_ref(),
            "--json".as_ref(),
            "print a lot".as_ref(),
        ])
    });
    let alone = maxrss_kib(&[fake.as_os_str(), "exec".as_ref(), "--json".as_ref()]);
    let events = std::fs::read_dir(repo.join(".git/codex-attest/runs"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(events > 0, "wrap recorded no run");
    report.row(
        &format!("peak RSS of wrap around {} MiB of JSONL", opts.jsonl_mib),
        format!("{:.1} MiB ({})", wrapped as f64 / 1024.0, secs(elapsed)),
        format!("the printer alone {:.1} MiB", alone as f64 / 1024.0),
        "-".to_string(),
        "< 64 MiB",
    );
}

// ---------------------------------------------------------------------------------------------
// wrap: overhead against git status and against hashing the whole tree

struct CodexSetup {
    server: ModelServer,
    work: PathBuf,
    env: Vec<(String, String)>,
    key: PathBuf,
}

fn codex_setup(root: &Path, model_latency: Duration) -> CodexSetup {
    let work = root.join("codex");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("codex_home")).unwrap();
    std::fs::create_dir_all(work.join("home")).unwrap();
    // The change: append a line to each file named in a list (one list per N, outside the repo).
    std::fs::write(
        work.join("change.sh"),
        "while IFS= read -r f; do echo \"changed by $2\" >> \"$f\"; done < \"$1\"\n",
    )
    .unwrap();
    let turns = vec![
        Turn::Items {
            items: vec![
                json!({"type": "function_call", "name": "exec_command", "call_id": "call_1",
                "arguments": json!({"cmd": format!("sh {} {} bench", work.join("change.sh").display(), work.join("list").display())}).to_string()}),
            ],
            usage: None,
        },
        Turn::Items {
            items: vec![
                json!({"type": "message", "role": "assistant", "id": "msg_1",
                "content": [{"type": "output_text", "text": "Changed."}]}),
            ],
            usage: None,
        },
    ];
    let server = ModelServer::start_with_latency(turns, 0, model_latency).unwrap();
    std::fs::write(
        work.join("codex_home/config.toml"),
        format!(
            "model = \"gpt-5.5\"\nmodel_provider = \"local\"\n\n[features]\nplugins = false\n\n[analytics]\nenabled = false\n\n\
             [model_providers.local]\nname = \"local\"\nbase_url = \"{}\"\nwire_api = \"responses\"\nenv_key = \"LOCAL_MODEL_KEY\"\n\
             request_max_retries = 0\nstream_max_retries = 0\n",
            server.base_url()
        ),
    )
    .unwrap();
    let codex_bin = test_deps().join("node_modules/.bin");
    assert!(
        codex_bin.join("codex").exists(),
        "the Codex CLI is missing at {}: run scripts/test-deps",
        codex_bin.display()
    );
    let mut env = vec![
        (
            "PATH".to_string(),
            format!("{}:/usr/local/bin:/usr/bin:/bin", codex_bin.display()),
        ),
        (
            "CODEX_HOME".to_string(),
            work.join("codex_home").display().to_string(),
        ),
        ("HOME".to_string(), work.join("home").display().to_string()),
        ("LOCAL_MODEL_KEY".to_string(), "sk-bench".to_string()),
        ("LANG".to_string(), "C.UTF-8".to_string()),
        ("NO_PROXY".to_string(), "127.0.0.1,localhost".to_string()),
        ("no_proxy".to_string(), "127.0.0.1,localhost".to_string()),
    ];
    for var in codex_attest::model_server::PROXY_VARS {
        env.push((
            var.to_string(),
            codex_attest::model_server::CLOSED_PROXY.to_string(),
        ));
    }
    // The signing key must lie outside what Codex's sandbox can write (wrap refuses it
    // otherwise): not under /tmp, which is where a checkout in /tmp puts target/.
    let keys = if work.starts_with("/tmp") {
        std::path::PathBuf::from("/var/tmp/codex-attest-bench-keys")
    } else {
        work.join("keys")
    };
    let key = keys.join("bench");
    let _ = std::fs::remove_file(key.with_extension("key"));
    let _ = std::fs::remove_file(key.with_extension("pub"));
    std::fs::create_dir_all(&keys).unwrap();
    run_ok(
        Command::new(WRAP_BIN)
            .args(["keygen", "--out"])
            .arg(&key)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    CodexSetup {
        server,
        work,
        env,
        key: key.with_extension("key"),
    }
}

/// Runs `codex exec` (through `wrap` when `wrapped`) in `repo`; returns the wall time.
fn codex_run(
    setup: &CodexSetup,
    repo: &Path,
    wrapped: bool,
    extra: &[&str],
    trace: bool,
    perf: Option<&Path>,
) -> Duration {
    // With --trace, /usr/bin/time reports the CPU each side used (on stderr, with the phases).
    let mut cmd = if let (Some(dir), true) = (perf, wrapped) {
        std::fs::create_dir_all(dir).unwrap();
        let n = std::fs::read_dir(dir).unwrap().count();
        let mut c = Command::new("perf");
        c.args([
            "record",
            "-q",
            "-F",
            "4000",
            "--call-graph",
            "dwarf,32768",
            "-o",
        ])
        .arg(dir.join(format!("wrap-{n}.data")))
        .arg(WRAP_BIN);
        c
    } else if trace {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "cpu: user %U s, system %S s, wall %e s"]);
        c.arg(if wrapped { WRAP_BIN } else { "codex" });
        c
    } else if wrapped {
        Command::new(WRAP_BIN)
    } else {
        Command::new("codex")
    };
    if wrapped {
        if trace {
            cmd.arg("-vv");
        }
        cmd.arg("wrap")
            .arg("--key")
            .arg(&setup.key)
            .args(extra)
            .arg("--")
            .arg("codex");
    }
    cmd.args([
        "exec",
        "--json",
        "-s",
        "workspace-write",
        "change the files",
    ])
    .current_dir(repo)
    .env_clear()
    .envs(setup.env.iter().map(|(k, v)| (k, v)))
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let (elapsed, out) = time(|| cmd.output().unwrap());
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if trace {
        let side = if wrapped { "wrap" } else { "codex alone" };
        for line in String::from_utf8_lossy(&out.stderr).lines() {
            if line.contains("DEBUG") || line.starts_with("cpu: ") {
                eprintln!("    {side}: {line}");
            }
        }
    }
    elapsed
}

fn git_status_time(repo: &Path) -> Duration {
    let mut cmd = Command::new("git");
    cmd.args(codex_attest::git::STATUS_ARGS)
        .current_dir(repo)
        .stdout(Stdio::null());
    time(|| run_ok(&mut cmd)).0
}

/// Hashes every file in the tree, ignored ones included, `.git/` excluded (witness hashes
/// `.git/` too): SHA-256 only, on every core. The most favourable version of what witness-style
/// tools do once per run (they do it twice, before and after).
fn hash_whole_tree(repo: &Path) -> (Duration, u64) {
    let (elapsed, bytes) = time(|| {
        let mut files = Vec::new();
        all_files(repo, &mut files);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = files.len().div_ceil(threads).max(1);
        std::thread::scope(|s| {
            let handles: Vec<_> = files
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        let mut total = 0u64;
                        let mut buf = vec![0u8; 256 * 1024];
                        for f in part {
                            use std::io::Read;
                            let mut file = std::fs::File::open(f).unwrap();
                            let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
                            loop {
                                let n = file.read(&mut buf).unwrap();
                                if n == 0 {
                                    break;
                                }
                                total += n as u64;
                                ctx.update(&buf[..n]);
                            }
                            std::hint::black_box(ctx.finish());
                        }
                        total
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        })
    });
    (elapsed, bytes)
}

fn bench_wrap(opts: &Opts, root: &Path, report: &mut Report) {
    eprintln!("bench: wrap");
    let setup = codex_setup(root, Duration::from_millis(opts.model_latency_ms));
    // Rows taken with a slow model say so.
    let latency = match opts.model_latency_ms {
        0 => String::new(),
        ms => format!(", model answers in {ms} ms"),
    };
    let sizes = [opts.small_files, opts.files];
    let mut by_size: BTreeMap<usize, Vec<(usize, Duration, Duration)>> = BTreeMap::new();
    for &files in sizes.iter().filter(|&&n| n > 0) {
        let repo = fixture(root, files, opts.ignored_mb);
        // Warm-up: one run of each, not counted (Codex's first start, page cache).
        std::fs::write(setup.work.join("list"), "").unwrap();
        codex_run(&setup, &repo, false, &[], false, None);
        codex_run(&setup, &repo, true, &[], false, None);
        let mut status = Vec::new();
        for _ in 0..opts.runs.max(3) {
            status.push(git_status_time(&repo));
        }
        let status = median(status);
        let (whole, whole_bytes) = if files == opts.files {
            let mut t = Vec::new();
            let mut bytes = 0;
            for _ in 0..opts.runs.max(3) {
                let (d, b) = hash_whole_tree(&repo);
                t.push(d);
                bytes = b;
            }
            (Some(median(t)), bytes)
        } else {
            (None, 0)
        };
        for &n in &opts.changes {
            let n = n.min(files);
            // Files spread over the whole tree.
            let step = files / n;
            let list: String = (0..n)
                .map(|k| format!("{}\n", repo.join(fixture_file(k * step)).display()))
                .collect();
            std::fs::write(setup.work.join("list"), list).unwrap();
            let modes: &[(&str, &[&str])] = &[
                ("watch", &[]),
                ("service", &[]),
                ("rescan", &["--full-rescan"]),
            ];
            for (mode, extra) in modes {
                // With a watch service (`codex-attest watch`) running throughout, both sides;
                // without one otherwise (`wrap` would use any service that answers).
                let service = (*mode == "service").then(|| Service::start(&repo));
                assert!(
                    service.is_some() || !Service::answers(&repo),
                    "a watch service serves {}: stop it (`codex-attest watch --stop`)",
                    repo.display()
                );
                let mut settled = Vec::new();
                let mut reset = |repo: &Path| {
                    reset(repo);
                    // What the service does between runs (a fresh status after the reset
                    // rewrote the index), done before the timed run, as between a user's runs.
                    if let Some(service) = &service {
                        settled.push(service.settle());
                    }
                };
                let (mut alone, mut wrapped) = (Vec::new(), Vec::new());
                let run_alone = || codex_run(&setup, &repo, false, &[], opts.trace, None);
                let run_wrapped =
                    || codex_run(&setup, &repo, true, extra, opts.trace, opts.perf.as_deref());
                for i in 0..opts.runs {
                    reset(&repo);
                    // Alternate the order so drift in machine load hits both sides.
                    if i % 2 == 0 {
                        alone.push(run_alone());
                        reset(&repo);
                        wrapped.push(run_wrapped());
                    } else {
                        wrapped.push(run_wrapped());
                        reset(&repo);
                        alone.push(run_alone());
                    }
                }
                reset(&repo);
                drop(service);
                if !settled.is_empty() {
                    report.row(
                        &format!("watch service between runs, {files} files, after {n} changed and a git reset"),
                        secs(median(settled)),
                        "untimed in the overhead".to_string(),
                        "-".to_string(),
                        "-",
                    );
                }
                let (alone, wrapped) = (median(alone), median(wrapped));
                let overhead = wrapped.saturating_sub(alone);
                by_size
                    .entry(files)
                    .or_default()
                    .push((n, overhead, status));
                report.row(
                    &format!(
                        "wrap overhead ({mode}{latency}), {files} files, {n} changed, vs git status"
                    ),
                    format!(
                        "{} (wrap {} - codex {})",
                        secs(overhead),
                        secs(wrapped),
                        secs(alone)
                    ),
                    format!("git status {}", secs(status)),
                    format!("{:.2}x", overhead.as_secs_f64() / status.as_secs_f64()),
                    "<= 1.5x",
                );
                if let Some(whole) = whole {
                    report.row(
                        &format!("wrap overhead ({mode}{latency}), {files} files, {n} changed, vs hashing the tree"),
                        secs(overhead),
                        format!(
                            "sha256 of all {} MB, 2 threads: {}",
                            whole_bytes / 1_000_000,
                            secs(whole)
                        ),
                        format!("{:.1}x faster", whole.as_secs_f64() / overhead.as_secs_f64().max(1e-3)),
                        ">= 20x",
                    );
                }
            }
        }
    }
    let _ = &setup.server;
}
