//! End-to-end: real git repositories, a real SMTP server on 127.0.0.1.

use crate::support;

use std::path::Path;

use support::{Home, SmtpServer, git, parse_digest, require, sh_text, smtp_transport, stderr};

const AUTHOR2: &str = "J\u{fc}rgen Gro\u{df}";

/// upstream with one commit, a clone of it under HOME, then two upstream commits.
/// Returns (old, new) revisions.
fn setup(home: &Home) -> (String, String) {
    require("git");
    let up = home.path().join("upstream");
    std::fs::create_dir_all(&up).expect("mkdir");
    git(&up, &["init", "-q", "-b", "main"], "Ann");
    std::fs::write(up.join("lib.rs"), "fn main() {\n    println!(\"hi\");\n}\n").expect("write");
    git(&up, &["add", "."], "Ann");
    git(&up, &["commit", "-q", "-m", "initial"], "Ann");
    git(home.path(), &["clone", "-q", "upstream", "clone"], "Ann");
    let old = git_head(&up);

    std::fs::write(
        up.join("lib.rs"),
        "fn main() {\n    println!(\"hello, world\");\n    let x = 1 + 2;\n}\n",
    )
    .expect("write");
    git(&up, &["commit", "-q", "-am", "greet the world"], "Ann");
    std::fs::create_dir_all(up.join("donn\u{e9}es")).expect("mkdir");
    // A 5000-character line: must survive the 998-octet limit through the encoding.
    let long = format!("const BLOB: &str = \"{}\";\n", "x\u{e9}".repeat(2500));
    std::fs::write(up.join("donn\u{e9}es/caf\u{e9}.rs"), long).expect("write");
    git(&up, &["add", "."], AUTHOR2);
    git(&up, &["commit", "-q", "-m", "caf\u{e9}: add the long line"], AUTHOR2);
    (old, git_head(&up))
}

fn git_head(dir: &Path) -> String {
    String::from_utf8(git(dir, &["rev-parse", "HEAD"], "x")).expect("utf8").trim().to_string()
}

fn repo_table() -> &'static str {
    "[[repo]]\nname = \"clone\"\npath = \"~/clone\"\nkind = \"git\"\n"
}

#[test]
fn digest_is_mailed_and_clone_fast_forwarded() {
    let home = Home::new();
    let (old, new) = setup(&home);
    let expected =
        git(&home.path().join("upstream"), &["-c", "core.quotepath=off", "diff", &old, &new], "x");
    let server = SmtpServer::start();
    home.write_config(&smtp_transport(server.port), "", repo_table());

    let out = home.run(&["run"]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    assert_eq!(git_head(&home.path().join("clone")), new, "clone fast-forwarded");
    assert!(home.spool_files().is_empty(), "spool emptied: {:?}", home.spool_files());

    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_to.len(), 2);
    let d = parse_digest(&got[0].data);
    assert_eq!(d.subject, "[repo-digest] clone: 2 commits (+3 \u{2212}1)");
    assert_eq!(d.attachment_type, "text/x-diff");
    assert_eq!(d.attachment, expected, "attachment is byte-for-byte git diff");
    assert_eq!(d.attachment_name, format!("clone.{}-{}.diff", &old[..12], &new[..12]));
    // Plain part: stats and commit list with the non-ASCII author and path.
    assert!(
        d.plain.contains("2 commits by 2 authors, 2 files changed, 3 insertions(+), 1 deletion(-)"),
        "{}",
        d.plain
    );
    assert!(d.plain.contains(AUTHOR2) && d.plain.contains("caf\u{e9}: add the long line"));
    assert!(d.plain.contains("donn\u{e9}es/caf\u{e9}.rs"));
    assert!(d.plain.contains(&"x\u{e9}".repeat(2500)), "long line intact in the plain part");
    // HTML: highlighted, inline styles, escaped.
    assert!(d.html.contains("donn\u{e9}es/caf\u{e9}.rs") && d.html.contains(AUTHOR2));
    assert!(d.html.contains("style=\"color:#") && !d.html.contains("<style"));

    // Nothing new: no second mail.
    let again = home.run(&["run"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stderr(&again).contains("up to date"));
    assert_eq!(server.received().len(), 1);
}

#[test]
fn refused_or_unreachable_smtp_keeps_the_item_for_the_next_run() {
    let home = Home::new();
    let (_, new) = setup(&home);
    let server = SmtpServer::start();

    // 1. Nothing listens: the run fails, but the diff is spooled and the clone updated.
    home.write_config(&smtp_transport(support::dead_port()), "", repo_table());
    let out = home.run(&["run"]);
    assert!(!out.status.success(), "must exit non-zero when an item stays");
    assert!(stderr(&out).contains("1 item(s) left in the spool"), "{}", stderr(&out));
    assert_eq!(home.spool_files().len(), 2, "diff + sidecar: {:?}", home.spool_files());
    assert_eq!(git_head(&home.path().join("clone")), new);
    let sidecar = home
        .spool_files()
        .into_iter()
        .find(|f| Path::new(f).extension().is_some_and(|e| e == "json"))
        .expect("json");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.spool().join(sidecar)).expect("read"))
            .expect("json");
    assert_eq!(meta["commits"].as_array().map(Vec::len), Some(2));
    assert_eq!(meta["authors"][1], AUTHOR2);
    assert_eq!(meta["stats"]["insertions"], 3);

    // 2. Temporary and permanent refusals keep it too.
    home.write_config(&smtp_transport(server.port), "", repo_table());
    for reply in ["451 4.3.0 try again later", "554 5.6.0 rejected"] {
        server.fail(Some(reply));
        let out = home.run(&["send"]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains(&reply[..3]), "{}", stderr(&out));
        assert_eq!(home.spool_files().len(), 2);
    }
    assert!(server.received().is_empty());

    // 3. The server accepts: the spooled item goes out and is deleted.
    server.fail(None);
    let out = home.run(&["run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.received().len(), 1);
    assert!(home.spool_files().is_empty());
    assert!(parse_digest(&server.received()[0].data).subject.contains("2 commits"));
}

#[test]
fn diverged_clone_is_not_merged() {
    let home = Home::new();
    let (_, _) = setup(&home);
    let clone = home.path().join("clone");
    std::fs::write(clone.join("local.txt"), "mine\n").expect("write");
    git(&clone, &["add", "."], "Me");
    git(&clone, &["commit", "-q", "-m", "local work"], "Me");
    let before = git_head(&clone);
    home.write_config(&smtp_transport(support::dead_port()), "", repo_table());
    let out = home.run(&["run"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("only fast-forwards"), "{}", stderr(&out));
    assert_eq!(git_head(&clone), before, "no merge happened");
    assert!(home.spool_files().is_empty());
    let parents = sh_text(&clone, "git", &["rev-list", "--merges", "--count", "HEAD"], &[]);
    assert_eq!(parents, "0");
}

#[test]
fn dry_run_writes_eml_and_changes_nothing() {
    let home = Home::new();
    let (old, _) = setup(&home);
    home.write_config(&smtp_transport(support::dead_port()), "", repo_table());
    let out = home.run(&["run", "--dry-run", "--eml-dir", "~/eml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let emls: Vec<_> = std::fs::read_dir(home.path().join("eml")).expect("eml dir").collect();
    assert_eq!(emls.len(), 1);
    let raw = std::fs::read(emls[0].as_ref().expect("entry").path()).expect("read");
    let d = parse_digest(&raw);
    assert!(d.subject.starts_with("[repo-digest] clone: 2 commits"));
    assert_eq!(git_head(&home.path().join("clone")), old, "dry run leaves the clone alone");
    assert!(home.spool_files().is_empty());
}

#[test]
fn large_diff_is_attached_compressed() {
    use std::io::Read;
    let home = Home::new();
    let (old, new) = setup(&home);
    let expected =
        git(&home.path().join("upstream"), &["-c", "core.quotepath=off", "diff", &old, &new], "x");
    home.write_config(
        "kind = \"file\"\ndir = \"~/out\"\n",
        "[limits]\ncompress_above = 1000\ninline_bytes = 300\n",
        repo_table(),
    );
    let out = home.run(&["run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let files: Vec<_> = std::fs::read_dir(home.path().join("out")).expect("out dir").collect();
    assert_eq!(files.len(), 1, "file transport wrote one mail");
    let raw = std::fs::read(files[0].as_ref().expect("entry").path()).expect("read");
    let d = parse_digest(&raw);
    assert_eq!(d.attachment_type, "application/gzip");
    assert!(d.attachment_name.ends_with(".diff.gz"));
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&d.attachment[..]).read_to_end(&mut unzipped).expect("gunzip");
    assert_eq!(unzipped, expected);
    assert!(d.plain.contains("[diff cut after"));
    assert!(d.html.contains("The diff is cut here"));
}

#[test]
fn init_writes_an_example_that_loads() {
    let home = Home::new();
    let cfg = home.path().join("config.toml");
    let out = home.run(&["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&cfg).expect("written");
    assert!(text.contains("[[repo]]") && text.contains("# "));
    let again = home.run(&["init"]);
    assert!(!again.status.success(), "refuses to overwrite");
    assert!(stderr(&again).contains("--force"));
    assert!(home.run(&["init", "--force"]).status.success());
}
