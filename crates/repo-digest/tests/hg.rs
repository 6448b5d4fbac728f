//! End-to-end with real Mercurial repositories.

use crate::support;

use std::path::Path;

use support::{Home, SmtpServer, parse_digest, require, sh, sh_text, smtp_transport, stderr};

const USER: &str = "J\u{fc}rgen Gro\u{df} <jg@example.org>";
const ENV: &[(&str, &str)] = &[("HGPLAIN", "1"), ("HGENCODING", "utf-8"), ("HGRCPATH", "")];

fn hg(dir: &Path, args: &[&str], user: &str) -> Vec<u8> {
    let mut env = ENV.to_vec();
    env.push(("HGUSER", user));
    sh(dir, "hg", args, &env)
}

fn node(dir: &Path) -> String {
    sh_text(dir, "hg", &["log", "-r", ".", "-T", "{node}"], ENV)
}

#[test]
fn hg_incoming_is_mailed_then_updated() {
    require("hg");
    let home = Home::new();
    let up = home.path().join("upstream");
    std::fs::create_dir_all(&up).expect("mkdir");
    hg(&up, &["init"], USER);
    std::fs::write(up.join("a.py"), "def f():\n    return 1\n").expect("write");
    hg(&up, &["commit", "-q", "-A", "-m", "initial"], "Ann <ann@example.org>");
    hg(home.path(), &["clone", "-q", "upstream", "clone"], USER);
    let old = node(&up);
    std::fs::write(up.join("a.py"), "def f():\n    return 2\n").expect("write");
    hg(&up, &["commit", "-q", "-m", "bump"], "Ann <ann@example.org>");
    std::fs::write(up.join("r\u{e9}sum\u{e9}.txt"), "na\u{ef}ve\n").expect("write");
    hg(&up, &["commit", "-q", "-A", "-m", "r\u{e9}sum\u{e9}"], USER);
    let new = node(&up);
    let expected = hg(&up, &["diff", "--git", "-r", &old, "-r", &new], USER);

    let server = SmtpServer::start();
    home.write_config(
        &smtp_transport(server.port),
        "",
        "[[repo]]\nname = \"hgclone\"\npath = \"~/clone\"\nkind = \"hg\"\n",
    );
    let out = home.run(&["run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(node(&home.path().join("clone")), new, "working copy updated");
    assert!(home.spool_files().is_empty());

    let got = server.received();
    assert_eq!(got.len(), 1);
    let d = parse_digest(&got[0].data);
    assert_eq!(d.subject, "[repo-digest] hgclone: 2 commits (+2 \u{2212}1)");
    assert_eq!(d.attachment, expected);
    assert!(
        d.plain.contains("J\u{fc}rgen Gro\u{df}") && d.plain.contains("r\u{e9}sum\u{e9}.txt"),
        "{}",
        d.plain
    );
    assert!(d.html.contains("r\u{e9}sum\u{e9}.txt"));

    let again = home.run(&["run"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(server.received().len(), 1);
}
