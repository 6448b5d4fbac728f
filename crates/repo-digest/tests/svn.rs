//! End-to-end with a real Subversion repository (`svnadmin create`, `file://`).

use crate::support;

use std::path::Path;

use support::{Home, SmtpServer, parse_digest, require, sh, sh_text, smtp_transport, stderr};

const ENV: &[(&str, &str)] = &[("LC_ALL", "C.UTF-8")];

fn svn(dir: &Path, args: &[&str]) -> Vec<u8> {
    let mut all = vec!["--non-interactive", "--config-dir", ".svn-test-config"];
    all.extend_from_slice(args);
    sh(dir, "svn", &all, ENV)
}

fn wc_rev(dir: &Path) -> String {
    sh_text(dir, "svn", &["info", "--show-item", "revision", "--no-newline", "."], ENV)
}

#[test]
fn svn_working_revision_to_head_is_mailed_then_updated() {
    require("svn");
    require("svnadmin");
    let home = Home::new();
    let repo = home.path().join("repo");
    sh(home.path(), "svnadmin", &["create", repo.to_str().expect("utf8 path")], ENV);
    let url = format!("file://{}", repo.display());
    // The writer's checkout, where the "upstream" commits are made.
    svn(home.path(), &["checkout", "-q", &url, "writer"]);
    let writer = home.path().join("writer");
    std::fs::write(writer.join("main.c"), "int main(void) {\n    return 0;\n}\n").expect("write");
    svn(&writer, &["add", "-q", "main.c"]);
    svn(&writer, &["commit", "-q", "-m", "initial", "--username", "ann"]);
    // The followed working copy, at r1.
    svn(home.path(), &["checkout", "-q", &url, "clone"]);
    let clone = home.path().join("clone");
    assert_eq!(wc_rev(&clone), "1");
    std::fs::write(writer.join("main.c"), "int main(void) {\n    return 42;\n}\n").expect("write");
    svn(&writer, &["commit", "-q", "-m", "answer\n\nlonger text", "--username", "ann"]);
    std::fs::write(writer.join("\u{fc}ber.txt"), "gr\u{fc}\u{df}e\n").expect("write");
    svn(&writer, &["add", "-q", "\u{fc}ber.txt"]);
    svn(&writer, &["commit", "-q", "-m", "\u{fc}ber <all>", "--username", "j\u{f6}rg"]);
    let expected = sh(&clone, "svn", &["diff", "--internal-diff", "-r", "1:3", "."], ENV);

    let server = SmtpServer::start();
    home.write_config(
        &smtp_transport(server.port),
        "",
        "[[repo]]\nname = \"svnwc\"\npath = \"~/clone\"\nkind = \"svn\"\n",
    );
    let out = home.run(&["run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(wc_rev(&clone), "3", "working copy updated to HEAD");
    assert!(home.spool_files().is_empty());

    let got = server.received();
    assert_eq!(got.len(), 1);
    let d = parse_digest(&got[0].data);
    assert_eq!(d.subject, "[repo-digest] svnwc: 2 commits (+2 \u{2212}1)");
    assert_eq!(d.attachment, expected);
    assert_eq!(d.attachment_name, "svnwc.r1-r3.diff");
    assert!(
        d.plain.contains("r2") && d.plain.contains("answer") && !d.plain.contains("longer text"),
        "{}",
        d.plain
    );
    assert!(d.plain.contains("j\u{f6}rg") && d.plain.contains("\u{fc}ber.txt"));
    assert!(d.html.contains("\u{fc}ber &lt;all&gt;"));

    let again = home.run(&["run"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(server.received().len(), 1);
}
