//! `--help` is documentation: snapshot it so changes are reviewed.

use crate::common::TestEnv;

#[test]
fn help_texts() {
    let env = TestEnv::new();
    insta::assert_snapshot!("help_main", env.run(&["--help"]).success().stdout);
    for command in [
        "wrap",
        "show",
        "log",
        "diff",
        "replay",
        "revert",
        "lock",
        "keygen",
        "sign",
        "verify",
        "export",
        "import",
        "notes",
        "init",
        "fsck",
        "demo",
        "doctor",
        "stats",
        "watch",
        "completions",
        "man",
    ] {
        let out = env.run(&[command, "--help"]).success();
        insta::assert_snapshot!(format!("help_{command}"), out.stdout);
    }
}
