//! Building digest mails and handing them to a transport.
//!
//! Structure: `multipart/mixed` = `multipart/alternative` (plain, HTML) + the diff as
//! an attachment (`text/x-diff`, or `application/gzip` above `compress_above`).
//! lettre picks each part's transfer encoding (7bit, quoted-printable or base64), so
//! no line of the message exceeds the 998-octet limit and every text part declares
//! its charset; `From`, `Date` and `Message-ID` are always set.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use flate2::Compression;
use flate2::write::GzEncoder;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{FileTransport, Message, SendmailTransport, SmtpTransport, Transport as _};

use crate::config::{self, Limits, Security};
use crate::error::Error;
use crate::render::{self, Highlighter};
use crate::spool::Meta;

/// A built mail plus the name of the item it came from.
pub struct Digest {
    /// The message.
    pub message: Message,
    /// The spool item's base name.
    pub item: String,
}

/// Builds the mail for one spooled diff.
///
/// # Errors
///
/// An address that does not parse, or a failure while compressing the diff.
pub fn build(
    meta: &Meta,
    diff: &[u8],
    mail: &config::Mail,
    limits: &Limits,
    hl: &Highlighter,
) -> Result<Digest, Error> {
    let item = meta.base_name();
    let bad = |message: String| Error::Mail { item: item.clone(), message };
    let text = String::from_utf8_lossy(diff);
    let compressed = diff.len() > limits.compress_above;
    let attachment_name =
        if compressed { format!("{item}.diff.gz") } else { format!("{item}.diff") };
    let plain = render::plain(meta, &text, &attachment_name, limits);
    let html = render::html(meta, &text, &attachment_name, limits, hl);
    let attachment = if compressed {
        let mut gz = GzEncoder::new(Vec::with_capacity(diff.len() / 4), Compression::default());
        gz.write_all(diff).map_err(|e| bad(format!("gzip: {e}")))?;
        let bytes = gz.finish().map_err(|e| bad(format!("gzip: {e}")))?;
        Attachment::new(attachment_name).body(bytes, content_type("application/gzip")?)
    } else {
        // Declare UTF-8 only when it is true; other bytes travel as they are, in base64.
        let ct = if std::str::from_utf8(diff).is_ok() {
            "text/x-diff; charset=utf-8"
        } else {
            "text/x-diff"
        };
        Attachment::new(attachment_name).body(diff.to_vec(), content_type(ct)?)
    };
    let from: Mailbox = mail.from.parse().map_err(|e| bad(format!("from {:?}: {e}", mail.from)))?;
    let mut builder = Message::builder()
        .from(from)
        .subject(render::subject(meta))
        .date(SystemTime::now())
        .message_id(None)
        .user_agent(format!("repo-digest/{}", env!("CARGO_PKG_VERSION")));
    for to in &mail.to {
        let mbox: Mailbox = to.parse().map_err(|e| bad(format!("to {to:?}: {e}")))?;
        builder = builder.to(mbox);
    }
    let body = MultiPart::mixed()
        .multipart(MultiPart::alternative_plain_html(plain, html))
        .singlepart(attachment);
    let message = builder.multipart(body).map_err(|e| bad(e.to_string()))?;
    Ok(Digest { message, item })
}

fn content_type(s: &str) -> Result<ContentType, Error> {
    ContentType::parse(s)
        .map_err(|e| Error::Mail { item: String::new(), message: format!("content type {s}: {e}") })
}

/// Where mails go.
pub enum Sender {
    /// A sendmail-compatible program.
    Sendmail(SendmailTransport),
    /// An SMTP relay.
    Smtp(Box<SmtpTransport>),
    /// `.eml` files in a directory (lettre's file transport).
    File(FileTransport),
    /// `--dry-run`: `.eml` files named after the spool item.
    DryRun(PathBuf),
}

impl Sender {
    /// Sets up the configured transport (reading the SMTP password if one is configured).
    ///
    /// # Errors
    ///
    /// An invalid SMTP host, or a password file or variable that is missing.
    pub fn from_config(t: &config::Transport, config_path: &Path) -> Result<Sender, Error> {
        let cfg_err = |message: String| Error::Config { path: config_path.to_path_buf(), message };
        Ok(match t {
            config::Transport::Sendmail { command } => Sender::Sendmail(match command {
                Some(c) => SendmailTransport::new_with_command(c),
                None => SendmailTransport::new(),
            }),
            config::Transport::File { dir } => {
                std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
                Sender::File(FileTransport::new(dir))
            }
            config::Transport::Smtp {
                host,
                port,
                security,
                username,
                password_file,
                password_env,
                timeout_secs,
            } => {
                let mut b = match security {
                    Security::Starttls => SmtpTransport::starttls_relay(host),
                    Security::Tls => SmtpTransport::relay(host),
                    Security::None => Ok(SmtpTransport::builder_dangerous(host)),
                }
                .map_err(|e| cfg_err(format!("smtp host {host:?}: {e}")))?;
                if let Some(p) = port {
                    b = b.port(*p);
                }
                b = b.timeout(Some(Duration::from_secs(timeout_secs.unwrap_or(60))));
                if let Some(user) = username {
                    let password = match (password_file, password_env) {
                        (Some(f), _) => std::fs::read_to_string(f)
                            .map_err(|e| Error::io("read the SMTP password from", f, e))?
                            .lines()
                            .next()
                            .unwrap_or("")
                            .to_string(),
                        (None, Some(var)) => std::env::var(var).map_err(|_| {
                            cfg_err(format!(
                                "environment variable {var} (SMTP password) is not set"
                            ))
                        })?,
                        (None, None) => {
                            return Err(cfg_err(
                                "smtp: username without password_file or password_env".into(),
                            ));
                        }
                    };
                    b = b.credentials(Credentials::new(user.clone(), password));
                }
                Sender::Smtp(Box::new(b.build()))
            }
        })
    }

    /// Hands one mail over; `Ok` means the transport accepted it.
    ///
    /// # Errors
    ///
    /// [`Error::Send`] when the transport refuses the mail; I/O errors for dry-run files.
    pub fn send(&self, digest: &Digest) -> Result<PathBuf, Error> {
        let refused = |message: String| Error::Send { item: digest.item.clone(), message };
        match self {
            Sender::Sendmail(t) => t.send(&digest.message).map_err(|e| refused(e.to_string()))?,
            Sender::Smtp(t) => {
                t.send(&digest.message).map(drop).map_err(|e| refused(e.to_string()))?;
            }
            Sender::File(t) => {
                t.send(&digest.message).map(drop).map_err(|e| refused(e.to_string()))?;
            }
            Sender::DryRun(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
                let path = dir.join(format!("{}.eml", digest.item));
                crate::spool::write_atomic(&path, &digest.message.formatted())?;
                return Ok(path);
            }
        }
        Ok(PathBuf::new())
    }
}
