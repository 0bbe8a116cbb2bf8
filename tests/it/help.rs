//! `--help` is documentation: snapshot it so changes are reviewed.

use crate::common::TestEnv;

#[test]
fn help_texts() {
    let env = TestEnv::new();
    for args in [
        &["--help"][..],
        &["keygen", "--help"],
        &["sign", "--help"],
        &["verify", "--help"],
    ] {
        let out = env.run(args).success();
        let name = format!("help_{}", args[..args.len() - 1].join("_"));
        let name = if name == "help_" {
            "help_main".to_string()
        } else {
            name
        };
        insta::assert_snapshot!(name, out.stdout);
    }
}
