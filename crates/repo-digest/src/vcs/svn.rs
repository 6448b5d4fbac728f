//! Subversion: the working copy's revision to the repository's `HEAD`, then
//! `update -r` to exactly that revision.

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::config::Repo;
use crate::error::Error;
use crate::exec;

use super::{Commit, Incoming};

/// UTF-8 paths and messages; never prompt.
const ENV: &[(&str, &str)] = &[("LC_ALL", "C.UTF-8")];

fn svn(repo: &Repo, args: &[&str]) -> Result<String, Error> {
    let mut all = vec!["--non-interactive"];
    all.extend_from_slice(args);
    exec::run_text(&repo.path, "svn", &all, ENV)
}

fn revision(repo: &Repo, extra: &[&str]) -> Result<u64, Error> {
    let mut args = vec!["info", "--show-item", "revision", "--no-newline"];
    args.extend_from_slice(extra);
    args.push(".");
    let out = svn(repo, &args)?;
    out.trim().parse().map_err(|_| Error::Parse {
        what: format!("svn info in {}", repo.path.display()),
        message: format!("revision {out:?} is not a number"),
    })
}

pub(super) fn incoming(repo: &Repo) -> Result<Option<Incoming>, Error> {
    let from = revision(repo, &[])?;
    let to = revision(repo, &["-r", "HEAD"])?;
    if to <= from {
        return Ok(None);
    }
    let range = format!("{}:{to}", from + 1);
    let log = svn(repo, &["log", "--xml", "-r", &range, "."])?;
    let commits = parse_log(&log)?;
    let diff_range = format!("{from}:{to}");
    let args = ["--non-interactive", "diff", "--internal-diff", "-r", &diff_range, "."];
    let diff = exec::run(&repo.path, "svn", &args, ENV)?;
    Ok(Some(Incoming { from: format!("r{from}"), to: format!("r{to}"), commits, diff }))
}

/// Reads `svn log --xml`: `<logentry revision="N"><author/><date/><msg/></logentry>`.
fn parse_log(xml: &str) -> Result<Vec<Commit>, Error> {
    let err = |message: String| Error::Parse { what: "svn log --xml output".into(), message };
    let mut reader = Reader::from_str(xml);
    let mut commits = Vec::new();
    let mut current: Option<Commit> = None;
    let mut field: Option<&'static str> = None;
    loop {
        let event = reader.read_event().map_err(|e| err(e.to_string()))?;
        match event {
            Event::Start(e) => match e.name().as_ref() {
                "logentry" => {
                    let mut c = Commit {
                        id: String::new(),
                        author: String::new(),
                        email: String::new(),
                        date: String::new(),
                        subject: String::new(),
                    };
                    for a in e.attributes().flatten() {
                        if a.key.as_ref() == "revision" {
                            c.id = format!("r{}", a.value);
                        }
                    }
                    current = Some(c);
                }
                "author" => field = Some("author"),
                "date" => field = Some("date"),
                "msg" => field = Some("msg"),
                _ => field = None,
            },
            Event::End(e) => {
                if e.name().as_ref() == "logentry"
                    && let Some(mut c) = current.take()
                {
                    c.subject = c
                        .subject
                        .lines()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("")
                        .trim()
                        .to_string();
                    commits.push(c);
                }
                field = None;
            }
            Event::Text(t) => push(&mut current, field, &t.xml10_content()),
            Event::GeneralRef(r) => {
                let text = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => match r.xml10_content().as_ref() {
                        "amp" => "&".into(),
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "quot" => "\"".into(),
                        "apos" => "'".into(),
                        other => format!("&{other};"),
                    },
                };
                push(&mut current, field, &text);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(commits)
}

fn push(current: &mut Option<Commit>, field: Option<&str>, text: &str) {
    if let Some(c) = current {
        match field {
            Some("author") => c.author.push_str(text),
            Some("date") => c.date.push_str(text),
            // The whole message for now; cut to its first line at </logentry>.
            Some("msg") => c.subject.push_str(text),
            _ => {}
        }
    }
}

pub(super) fn update(repo: &Repo, incoming: &Incoming) -> Result<(), Error> {
    let rev = incoming.to.trim_start_matches('r');
    svn(repo, &["update", "--quiet", "-r", rev, "."]).map(|_| ())
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_xml() {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<log>\n<logentry\n   revision=\"7\">\n<author>j\u{f6}rg</author>\n<date>2024-01-01T00:00:00.000000Z</date>\n<msg>\nfix &lt;x&gt; &amp; y&#33;\nmore</msg>\n</logentry>\n</log>\n";
        let c = super::parse_log(xml).expect("parses");
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].id, "r7");
        assert_eq!(c[0].author, "j\u{f6}rg");
        assert_eq!(c[0].subject, "fix <x> & y!");
    }
}
