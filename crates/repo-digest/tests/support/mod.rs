//! Shared test support: a tiny SMTP server, repository helpers and mail checks.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// Panics (never skips) when a tool the test needs is missing.
pub fn require(tool: &str) {
    let found = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{tool}` is not installed; run scripts/install-test-deps (installs git, mercurial, subversion)"
    );
}

/// Runs a command in `dir`, asserts success, returns stdout.
pub fn sh(dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) -> Vec<u8> {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub fn sh_text(dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    String::from_utf8(sh(dir, program, args, env)).expect("utf-8 output").trim().to_string()
}

/// git with a fixed identity and no user/system configuration.
pub fn git(dir: &Path, args: &[&str], author: &str) -> Vec<u8> {
    let env = [
        ("GIT_AUTHOR_NAME", author),
        ("GIT_AUTHOR_EMAIL", "author@example.org"),
        ("GIT_COMMITTER_NAME", "Committer"),
        ("GIT_COMMITTER_EMAIL", "committer@example.org"),
        ("GIT_CONFIG_GLOBAL", "/dev/null"),
        ("GIT_CONFIG_NOSYSTEM", "1"),
    ];
    sh(dir, "git", args, &env)
}

/// A temporary HOME with the config, spool and working copies under it.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        Home { dir: tempfile::tempdir().expect("tempdir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn spool(&self) -> PathBuf {
        self.path().join("spool")
    }

    /// Writes `config.toml`: spool `~/spool`, the given transport table and repos.
    pub fn write_config(&self, transport: &str, extra: &str, repos: &str) -> PathBuf {
        let text = format!(
            "spool = \"~/spool\"\n{extra}\n[mail]\nfrom = \"Digest R\u{f6}bot <digest@example.org>\"\nto = [\"reader@example.org\", \"Second Reader <two@example.org>\"]\n[mail.transport]\n{transport}\n{repos}"
        );
        let path = self.path().join("config.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// Runs the binary with HOME pointing here.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_repo-digest"))
            .arg("--config")
            .arg(self.path().join("config.toml"))
            .args(args)
            .env("HOME", self.path())
            .env_remove("REPO_DIGEST_CONFIG")
            .current_dir(self.path())
            .output()
            .expect("run repo-digest")
    }

    /// Spool entries that are items (sidecars and diffs), sorted.
    pub fn spool_files(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(self.spool()) else { return vec![] };
        let mut v: Vec<String> = rd
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        v.sort();
        v
    }
}

pub fn smtp_transport(port: u16) -> String {
    format!(
        "kind = \"smtp\"\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\ntimeout_secs = 10\n"
    )
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A port nothing listens on (bound, then released).
pub fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: Vec<u8>,
}

/// Just enough SMTP (RFC 5321) for a client that does EHLO, MAIL, RCPT, DATA, QUIT.
pub struct SmtpServer {
    pub port: u16,
    pub messages: Arc<Mutex<Vec<Received>>>,
    /// When set, the reply to the end of DATA is this line (e.g. "451 4.3.0 try later").
    pub fail_with: Arc<Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind smtp");
        let port = listener.local_addr().expect("addr").port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let fail_with = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, f, s) = (messages.clone(), fail_with.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (m, f) = (m.clone(), f.clone());
                thread::spawn(move || {
                    let _ = session(conn, &m, &f);
                });
            }
        });
        SmtpServer { port, messages, fail_with, stop }
    }

    pub fn fail(&self, reply: Option<&str>) {
        *self.fail_with.lock().expect("lock") = reply.map(str::to_string);
    }

    pub fn received(&self) -> Vec<Received> {
        self.messages.lock().expect("lock").clone()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn session(
    conn: TcpStream,
    store: &Mutex<Vec<Received>>,
    fail: &Mutex<Option<String>>,
) -> std::io::Result<()> {
    let mut w = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    w.write_all(b"220 127.0.0.1 test ESMTP\r\n")?;
    let mut current = Received { mail_from: String::new(), rcpt_to: Vec::new(), data: Vec::new() };
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        let verb = text.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => w.write_all(b"250-127.0.0.1\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")?,
            "HELO" | "NOOP" => w.write_all(b"250 ok\r\n")?,
            "RSET" => {
                current.rcpt_to.clear();
                w.write_all(b"250 ok\r\n")?;
            }
            "MAIL" => {
                current.mail_from = text;
                w.write_all(b"250 ok\r\n")?;
            }
            "RCPT" => {
                current.rcpt_to.push(text);
                w.write_all(b"250 ok\r\n")?;
            }
            "DATA" => {
                w.write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
                let mut data = Vec::new();
                loop {
                    line.clear();
                    if r.read_until(b'\n', &mut line)? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" {
                        break;
                    }
                    // Undo dot-stuffing.
                    let body = if line.starts_with(b"..") { &line[1..] } else { &line[..] };
                    data.extend_from_slice(body);
                }
                let reply = fail.lock().expect("lock").clone();
                if let Some(reply) = reply {
                    w.write_all(format!("{reply}\r\n").as_bytes())?;
                } else {
                    current.data = data;
                    store.lock().expect("lock").push(current.clone());
                    w.write_all(b"250 2.0.0 queued\r\n")?;
                }
                current.rcpt_to.clear();
            }
            "QUIT" => {
                w.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            _ => w.write_all(b"502 not implemented\r\n")?,
        }
    }
}

/// Asserts the raw message is 7-bit with CRLF lines of at most 998 octets, and has the
/// headers every mail must have.
pub fn check_raw(raw: &[u8]) {
    assert!(raw.is_ascii(), "message is not 7-bit clean");
    let text = std::str::from_utf8(raw).expect("ascii");
    for (i, l) in text.split("\r\n").enumerate() {
        assert!(l.len() <= 998, "line {i} has {} octets (limit 998)", l.len());
        assert!(!l.contains('\n') && !l.contains('\r'), "bare CR or LF on line {i}");
    }
    let header_end = text.find("\r\n\r\n").expect("header/body separator");
    let headers = &text[..header_end].to_ascii_lowercase();
    for h in ["\r\nfrom: ", "\r\ndate: ", "\r\nmessage-id: ", "\r\nsubject: ", "\r\nmime-version: "]
    {
        assert!(headers.contains(h) || headers.starts_with(&h[2..]), "missing header {h:?}");
    }
}

/// The three parts of a digest, checked for structure and charsets.
pub struct Parts {
    pub subject: String,
    pub plain: String,
    pub html: String,
    pub attachment_type: String,
    pub attachment_name: String,
    pub attachment: Vec<u8>,
}

pub fn parse_digest(raw: &[u8]) -> Parts {
    use mail_parser::{MessageParser, MimeHeaders, PartType};
    check_raw(raw);
    let msg = MessageParser::default().parse(raw).expect("parses as MIME");
    assert!(msg.message_id().is_some_and(|id| id.contains('@')), "Message-ID");
    assert!(msg.date().is_some(), "Date");
    let from = msg.from().and_then(|a| a.first()).expect("From");
    assert_eq!(from.address(), Some("digest@example.org"));
    assert_eq!(from.name(), Some("Digest R\u{f6}bot"));
    assert_eq!(msg.to().map(|a| a.iter().count()), Some(2));
    let root = msg.content_type().expect("root content type");
    assert_eq!((root.ctype(), root.subtype()), ("multipart", Some("mixed")));
    // Part 0 is the root, 1 the alternative container, 2 plain, 3 html, 4 attachment.
    let types: Vec<String> = msg
        .parts
        .iter()
        .map(|p| {
            let ct = p.content_type().expect("part content type");
            format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or(""))
        })
        .collect();
    assert_eq!(types[..4], ["multipart/mixed", "multipart/alternative", "text/plain", "text/html"]);
    assert_eq!(types.len(), 5, "parts: {types:?}");
    for i in [2, 3] {
        let cs = msg.parts[i].content_type().and_then(|c| c.attribute("charset"));
        assert_eq!(
            cs.map(str::to_ascii_lowercase).as_deref(),
            Some("utf-8"),
            "charset of part {i}"
        );
    }
    let text = |i: usize| match &msg.parts[i].body {
        PartType::Text(t) | PartType::Html(t) => t.to_string(),
        other => panic!("part {i} is not text: {other:?}"),
    };
    let att = &msg.parts[4];
    let attachment_name = att.attachment_name().expect("attachment file name").to_string();
    assert!(
        att.content_disposition().is_some_and(|d| d.ctype() == "attachment"),
        "attachment disposition"
    );
    Parts {
        subject: msg.subject().expect("subject").to_string(),
        plain: text(2),
        html: text(3),
        attachment_type: types[4].clone(),
        attachment_name,
        attachment: att.contents().to_vec(),
    }
}
