//! The two bodies of a digest mail: plain text and HTML.
//!
//! The HTML carries every style in `style` attributes (no `<style>` block, which
//! many mail clients drop) and colours hunks with syntect, choosing the grammar by
//! file extension and restarting the highlighter at every hunk, since a hunk starts
//! mid-file. Both bodies show at most `inline_bytes` of diff; the attachment always
//! has all of it.

use std::fmt::Write as _;

use syntect::easy::HighlightLines;
use syntect::highlighting::{Style, Theme, ThemeSet};
use syntect::html::{IncludeBackground, styled_line_to_highlighted_html};
use syntect::parsing::{SyntaxReference, SyntaxSet};

use crate::config::Limits;
use crate::diff::{self, FileDiff, LineKind};
use crate::spool::Meta;

/// Grammars and the colour theme, loaded once per run.
pub struct Highlighter {
    syntaxes: SyntaxSet,
    theme: Theme,
}

impl Default for Highlighter {
    fn default() -> Self {
        Self::new()
    }
}

impl Highlighter {
    /// Loads syntect's bundled grammars and its light `InspiredGitHub` theme.
    pub fn new() -> Self {
        let mut themes = ThemeSet::load_defaults();
        let theme = themes.themes.remove("InspiredGitHub").unwrap_or_default();
        Highlighter { syntaxes: SyntaxSet::load_defaults_newlines(), theme }
    }

    fn syntax_for(&self, path: &str) -> &SyntaxReference {
        let file = path.rsplit('/').next().unwrap_or(path);
        let ext = file.rsplit_once('.').map_or(file, |(_, e)| e);
        self.syntaxes
            .find_syntax_by_extension(ext)
            .or_else(|| self.syntaxes.find_syntax_by_extension(file))
            .unwrap_or_else(|| self.syntaxes.find_syntax_plain_text())
    }
}

/// Short form of a revision for display.
pub fn short(rev: &str) -> &str {
    match rev.char_indices().nth(12) {
        Some((i, _)) => &rev[..i],
        None => rev,
    }
}

/// The subject line: `[repo-digest] NAME: N commits (+A −D)`.
pub fn subject(meta: &Meta) -> String {
    let n = meta.commits.len();
    format!(
        "[repo-digest] {}: {n} commit{} (+{} \u{2212}{})",
        meta.repo,
        if n == 1 { "" } else { "s" },
        meta.stats.insertions,
        meta.stats.deletions
    )
}

fn summary_line(meta: &Meta) -> String {
    let s = meta.stats;
    format!(
        "{} ({}): {} commit{} by {} author{}, {} file{} changed, {} insertion{}(+), {} deletion{}(-)",
        meta.repo,
        meta.kind.name(),
        meta.commits.len(),
        plural(meta.commits.len() as u64),
        meta.authors.len(),
        plural(meta.authors.len() as u64),
        s.files,
        plural(s.files),
        s.insertions,
        plural(s.insertions),
        s.deletions,
        plural(s.deletions),
    )
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Cuts `text` to at most `max` bytes at a line end (or char boundary); returns the
/// kept part and whether anything was cut.
fn cut(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let end = text[..end].rfind('\n').map_or(end, |i| i + 1);
    (&text[..end], true)
}

/// The `text/plain` body: summary, commit list, per-file stats, then the diff.
pub fn plain(meta: &Meta, diff_text: &str, attachment_name: &str, limits: &Limits) -> String {
    let files = diff::parse(diff_text);
    let mut out = String::new();
    let _ = writeln!(out, "{}", summary_line(meta));
    let _ = writeln!(out, "{} -> {}\n", short(&meta.from), short(&meta.to));
    out.push_str("Commits\n");
    for c in &meta.commits {
        let date = c.date.get(..10).unwrap_or(&c.date);
        let _ = writeln!(out, "  {}  {date}  {}  {}", short(&c.id), c.author, c.subject);
    }
    out.push_str("\nFiles\n");
    let width = files.iter().map(|f| f.path().chars().count()).max().unwrap_or(0).min(60);
    for f in &files {
        let path = f.path();
        if f.binary {
            let _ = writeln!(out, "  {path:<width$} | binary");
        } else {
            let _ = writeln!(out, "  {path:<width$} | +{} -{}", f.added, f.removed);
        }
    }
    let _ = writeln!(out, "\nThe whole diff is attached as {attachment_name}.\n");
    let (shown, truncated) = cut(diff_text, limits.inline_bytes);
    out.push_str(shown);
    if truncated {
        let _ = writeln!(
            out,
            "\n[diff cut after {} of {} bytes; the attachment has all of it]",
            shown.len(),
            diff_text.len()
        );
    }
    out
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const FONT: &str = "-apple-system,'Segoe UI',Helvetica,Arial,sans-serif";
const MONO: &str = "ui-monospace,SFMono-Regular,Menlo,Consolas,'Liberation Mono',monospace";
const ADDED_BG: &str = "#e6ffec";
const REMOVED_BG: &str = "#ffebe9";
const HUNK_BG: &str = "#ddf4ff";
const MUTED: &str = "#59636e";
const BORDER: &str = "#d1d9e0";

/// The `text/html` body.
pub fn html(
    meta: &Meta,
    diff_text: &str,
    attachment_name: &str,
    limits: &Limits,
    hl: &Highlighter,
) -> String {
    let files = diff::parse(diff_text);
    let mut out = String::with_capacity(diff_text.len().min(limits.inline_bytes) * 4 + 4096);
    let title = escape(&subject(meta));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title></head>\n\
         <body style=\"margin:0;padding:16px;background:#ffffff;color:#1f2328;font-family:{FONT};font-size:14px;line-height:1.5\">\n"
    );
    let _ = writeln!(
        out,
        "<h2 style=\"margin:0 0 4px 0;font-size:20px\">{}: {} commit{} <span style=\"color:#1a7f37\">+{}</span> <span style=\"color:#d1242f\">\u{2212}{}</span></h2>",
        escape(&meta.repo),
        meta.commits.len(),
        plural(meta.commits.len() as u64),
        meta.stats.insertions,
        meta.stats.deletions
    );
    let _ = writeln!(
        out,
        "<p style=\"margin:0 0 16px 0;color:{MUTED}\">{} &middot; <code style=\"font-family:{MONO}\">{}</code> &rarr; <code style=\"font-family:{MONO}\">{}</code> &middot; {} file{} changed &middot; full diff attached as {}</p>",
        meta.kind.name(),
        escape(short(&meta.from)),
        escape(short(&meta.to)),
        meta.stats.files,
        plural(meta.stats.files),
        escape(attachment_name)
    );
    commit_table(&mut out, meta);
    file_table(&mut out, &files);
    let mut budget = limits.inline_bytes;
    let mut truncated = false;
    for f in &files {
        if budget == 0 {
            truncated = true;
            break;
        }
        truncated |= file_block(&mut out, f, hl, limits, &mut budget);
    }
    if truncated {
        let _ = writeln!(
            out,
            "<p style=\"color:{MUTED};font-style:italic\">The diff is cut here after {} bytes; the attachment has all {} bytes.</p>",
            limits.inline_bytes,
            diff_text.len()
        );
    }
    out.push_str("</body></html>\n");
    out
}

fn commit_table(out: &mut String, meta: &Meta) {
    let _ = writeln!(
        out,
        "<table role=\"presentation\" style=\"border-collapse:collapse;margin:0 0 16px 0;font-size:13px\">"
    );
    for c in &meta.commits {
        let date = c.date.get(..10).unwrap_or(&c.date);
        let _ = writeln!(
            out,
            "<tr><td style=\"padding:2px 12px 2px 0;font-family:{MONO};color:#0969da;white-space:nowrap\">{}</td>\
             <td style=\"padding:2px 12px 2px 0;color:{MUTED};white-space:nowrap\">{}</td>\
             <td style=\"padding:2px 12px 2px 0;white-space:nowrap\">{}</td>\
             <td style=\"padding:2px 0\">{}</td></tr>",
            escape(short(&c.id)),
            escape(date),
            escape(&c.author),
            escape(&c.subject)
        );
    }
    out.push_str("</table>\n");
}

fn file_table(out: &mut String, files: &[FileDiff<'_>]) {
    let _ = writeln!(
        out,
        "<table role=\"presentation\" style=\"border-collapse:collapse;margin:0 0 16px 0;font-size:13px;font-family:{MONO}\">"
    );
    for f in files {
        let counts = if f.binary {
            format!("<td colspan=\"2\" style=\"color:{MUTED}\">binary</td>")
        } else {
            format!(
                "<td style=\"padding:1px 8px;color:#1a7f37;text-align:right\">+{}</td><td style=\"padding:1px 8px;color:#d1242f;text-align:right\">\u{2212}{}</td>",
                f.added, f.removed
            )
        };
        let _ = writeln!(
            out,
            "<tr><td style=\"padding:1px 12px 1px 0\">{}</td>{counts}</tr>",
            escape(&f.path())
        );
    }
    out.push_str("</table>\n");
}

/// Renders one file; returns true when the budget ran out inside it.
fn file_block(
    out: &mut String,
    f: &FileDiff<'_>,
    hl: &Highlighter,
    limits: &Limits,
    budget: &mut usize,
) -> bool {
    let path = f.path();
    let _ = writeln!(
        out,
        "<div style=\"border:1px solid {BORDER};border-radius:6px;margin:0 0 16px 0;overflow:hidden\">\
         <div style=\"background:#f6f8fa;border-bottom:1px solid {BORDER};padding:6px 10px;font-family:{MONO};font-size:13px;font-weight:600\">{}</div>",
        escape(&path)
    );
    if f.binary || f.hunks.is_empty() {
        let note =
            if f.binary { "binary file" } else { "no text changes (mode, rename or empty file)" };
        let _ = writeln!(out, "<div style=\"padding:6px 10px;color:{MUTED}\">{note}</div></div>");
        return false;
    }
    let _ = writeln!(
        out,
        "<table role=\"presentation\" style=\"border-collapse:collapse;width:100%;font-family:{MONO};font-size:12px;line-height:1.45\">"
    );
    let syntax = hl.syntax_for(&path);
    let cell = "padding:0 10px;white-space:pre-wrap;word-break:break-all;overflow-wrap:anywhere";
    let mut truncated = false;
    'hunks: for hunk in &f.hunks {
        let _ = writeln!(
            out,
            "<tr><td style=\"{cell};background:{HUNK_BG};color:{MUTED}\">{}</td></tr>",
            escape(hunk.header)
        );
        let mut lines = HighlightLines::new(syntax, &hl.theme);
        for line in &hunk.lines {
            let cost = line.text.len() + 1;
            if cost > *budget {
                truncated = true;
                *budget = 0;
                break 'hunks;
            }
            *budget -= cost;
            let (prefix, bg) = match line.kind {
                LineKind::Added => ("+", ADDED_BG),
                LineKind::Removed => ("-", REMOVED_BG),
                LineKind::Context => (" ", "#ffffff"),
                LineKind::Marker => {
                    let _ = writeln!(
                        out,
                        "<tr><td style=\"{cell};color:{MUTED};font-style:italic\">\\{}</td></tr>",
                        escape(line.text)
                    );
                    continue;
                }
            };
            let body = highlight(&mut lines, hl, line.text, limits.highlight_line_max);
            let _ =
                writeln!(out, "<tr><td style=\"{cell};background:{bg}\">{prefix}{body}</td></tr>");
        }
    }
    out.push_str("</table></div>\n");
    truncated
}

fn highlight(lines: &mut HighlightLines<'_>, hl: &Highlighter, text: &str, max: usize) -> String {
    if text.len() > max {
        return escape(text);
    }
    let with_newline = format!("{text}\n");
    let Ok(regions) = lines.highlight_line(&with_newline, &hl.syntaxes) else {
        return escape(text);
    };
    let regions: Vec<(Style, &str)> = regions
        .into_iter()
        .map(|(s, t)| (s, t.strip_suffix('\n').unwrap_or(t)))
        .filter(|(_, t)| !t.is_empty())
        .collect();
    styled_line_to_highlighted_html(&regions, IncludeBackground::No)
        .unwrap_or_else(|_| escape(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Kind;
    use crate::diff::Stats;
    use crate::vcs::Commit;

    fn meta() -> Meta {
        Meta {
            version: 1,
            repo: "demo".into(),
            kind: Kind::Git,
            from: "0123456789abcdef".into(),
            to: "fedcba9876543210".into(),
            commits: vec![Commit {
                id: "fedcba9876543210".into(),
                author: "Zo\u{eb} <script>".into(),
                email: "z@x".into(),
                date: "2024-05-06T07:08:09+00:00".into(),
                subject: "add <b>".into(),
            }],
            authors: vec!["Zo\u{eb} <script>".into()],
            stats: Stats { files: 1, insertions: 2, deletions: 1 },
            diff_bytes: 0,
            spooled_at: 0,
        }
    }

    const DIFF: &str = "diff --git a/m.rs b/m.rs\n--- a/m.rs\n+++ b/m.rs\n@@ -1 +1,2 @@\n-fn old() {}\n+fn main() { let x = \"<&>\"; }\n+// done\n";

    #[test]
    fn subject_uses_minus_sign_and_plural() {
        let mut m = meta();
        assert_eq!(subject(&m), "[repo-digest] demo: 1 commit (+2 \u{2212}1)");
        m.commits.push(m.commits[0].clone());
        assert!(subject(&m).contains("2 commits"));
    }

    #[test]
    fn html_escapes_and_highlights_with_inline_styles() {
        let h = html(&meta(), DIFF, "demo.diff", &Limits::default(), &Highlighter::new());
        assert!(!h.contains("<script>") && h.contains("Zo\u{eb} &lt;script&gt;"));
        assert!(!h.contains("<style"), "CSS must be inline");
        assert!(h.contains(ADDED_BG) && h.contains(REMOVED_BG));
        // Rust grammar: `fn` gets its own coloured span.
        assert!(h.contains(">fn </span>") && h.contains(">main</span>"), "{h}");
        assert!(h.contains("&lt;&amp;&gt;"));
    }

    #[test]
    fn inline_limit_cuts_both_bodies() {
        let limits = Limits { inline_bytes: 20, ..Limits::default() };
        let p = plain(&meta(), DIFF, "demo.diff", &limits);
        assert!(p.contains("[diff cut after"), "{p}");
        assert!(!p.contains("// done"));
        let h = html(&meta(), DIFF, "demo.diff", &limits, &Highlighter::new());
        assert!(h.contains("The diff is cut here"));
        assert!(!h.contains("done"));
    }

    #[test]
    fn cut_respects_char_boundaries() {
        assert_eq!(cut("\u{e4}\u{e4}\u{e4}", 3), ("\u{e4}", true));
        assert_eq!(cut("ab\ncd\n", 4), ("ab\n", true));
    }
}
