//! Records given on the command line or in input files: classes resolved by
//! name, values parsed from text, JSON or canonical dump lines.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use seqfile::writable::{Class, Datum};

use crate::seq::format::unescape_tsv;

/// How records are given in an input file.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum InputFormat {
    /// `key<TAB>value` per line; values parsed per class (bytes as hex).
    Tsv,
    /// One JSON object per line: {"key": …, "value": …}.
    Json,
    /// Canonical dump record lines: hex(serialized key), a tab, hex(serialized value).
    Dump,
}

/// Where records come from and how they are spelled (`seq write`, `map build`).
#[derive(Args, Debug)]
pub(crate) struct RecordInput {
    /// Input file; `-` or absent reads standard input.
    pub(crate) input: Option<PathBuf>,
    /// Input format.
    #[arg(long, alias = "input", value_enum, default_value_t = InputFormat::Tsv)]
    pub(crate) input_format: InputFormat,
    /// Key class: Text, BytesWritable, IntWritable, LongWritable, NullWritable,
    /// BooleanWritable, ByteWritable, ShortWritable, FloatWritable,
    /// DoubleWritable, VIntWritable, VLongWritable, MD5Hash, or any full Java
    /// class name (then keys must be given as hex of their serialized bytes).
    #[arg(long, default_value = "Text")]
    pub(crate) key_class: String,
    /// Value class (same choices as --key-class).
    #[arg(long, default_value = "Text")]
    pub(crate) value_class: String,
}

impl RecordInput {
    /// The key and value classes, resolved.
    pub(crate) fn classes(&self) -> Result<(ClassArg, ClassArg)> {
        Ok((ClassArg::resolve(&self.key_class)?, ClassArg::resolve(&self.value_class)?))
    }

    /// Calls `f` with the serialized key and value of every record.
    pub(crate) fn read(
        &self,
        key: &ClassArg,
        value: &ClassArg,
        f: impl FnMut(&[u8], &[u8]) -> Result<()>,
    ) -> Result<()> {
        read_records(self.input.as_deref(), self.input_format, key, value, f)
    }
}

/// A class as the CLI resolves it: known (parsed from text) or raw (hex).
pub(crate) struct ClassArg {
    pub(crate) java: String,
    known: Option<Class>,
}

impl ClassArg {
    /// Resolves `Text`, `LongWritable`, `long`, … or a full Java class name.
    pub(crate) fn resolve(name: &str) -> Result<Self> {
        if let Some(c) = Class::from_short_name(name) {
            return Ok(ClassArg { java: c.java_name().to_owned(), known: Some(c) });
        }
        if !name.contains('.') {
            bail!(
                "unknown class {name:?}: use a Writable name such as Text or LongWritable, or a full Java class name"
            );
        }
        Ok(ClassArg { java: name.to_owned(), known: None })
    }

    /// The class a file header names (never fails: unknown classes are raw).
    pub(crate) fn of_header(java: &str) -> Self {
        ClassArg { java: java.to_owned(), known: Class::from_java_name(java) }
    }

    /// Serializes a value written as text (numbers in decimal, bytes in hex).
    pub(crate) fn encode_text(&self, s: &str, out: &mut Vec<u8>) -> Result<()> {
        match self.known {
            Some(c) => Datum::parse(c, s)?.encode(out),
            None => out.extend(parse_hex(s)?),
        }
        Ok(())
    }

    /// A key as the peer harness takes it on its command line: Text as text,
    /// numbers in decimal, BytesWritable as hex of the payload, and
    /// `hex:<serialized bytes>` for any class.
    pub(crate) fn encode_cli_key(&self, s: &str) -> Result<Vec<u8>> {
        if let Some(h) = s.strip_prefix("hex:") {
            return parse_hex(h);
        }
        let mut out = Vec::new();
        self.encode_text(s, &mut out).with_context(|| format!("key {s:?}"))?;
        Ok(out)
    }

    fn encode_json(&self, v: &serde_json::Value, out: &mut Vec<u8>) -> Result<()> {
        use serde_json::Value;
        match (self.known, v) {
            (Some(Class::Null), Value::Null) => Ok(()),
            (_, Value::String(s)) => self.encode_text(s, out),
            (Some(_), Value::Number(n)) => self.encode_text(&n.to_string(), out),
            (Some(_), Value::Bool(b)) => self.encode_text(&b.to_string(), out),
            _ => bail!("cannot make a {} from JSON {v}", self.java),
        }
    }
}

fn open_input(input: Option<&Path>) -> Result<Box<dyn BufRead>> {
    Ok(match input {
        None => Box::new(BufReader::new(io::stdin())),
        Some(p) if p.as_os_str() == "-" => Box::new(BufReader::new(io::stdin())),
        Some(p) => {
            Box::new(BufReader::new(File::open(p).with_context(|| format!("{}", p.display()))?))
        }
    })
}

/// Calls `f` with the serialized key and value of every record of the input
/// (a file, or standard input for `None` and `-`). Errors name the line.
fn read_records(
    input: Option<&Path>,
    format: InputFormat,
    key: &ClassArg,
    value: &ClassArg,
    mut f: impl FnMut(&[u8], &[u8]) -> Result<()>,
) -> Result<()> {
    let name = input.map_or_else(|| "<stdin>".to_owned(), |p| p.display().to_string());
    let (mut kb, mut vb) = (Vec::new(), Vec::new());
    for (i, line) in open_input(input)?.lines().enumerate() {
        let line_no = i + 1;
        let line = line.with_context(|| format!("{name}: line {line_no}"))?;
        kb.clear();
        vb.clear();
        let parsed: Result<bool> = (|| {
            match format {
                InputFormat::Dump => match seqfile::dump::parse_record_line(&line)? {
                    Some((k, v)) => {
                        kb = k;
                        vb = v;
                    }
                    None => return Ok(false),
                },
                InputFormat::Tsv => {
                    let line = line.trim_end_matches('\r');
                    if line.is_empty() {
                        return Ok(false);
                    }
                    let (k, v) = line.split_once('\t').unwrap_or((line, ""));
                    key.encode_text(&unescape_tsv(k), &mut kb)?;
                    value.encode_text(&unescape_tsv(v), &mut vb)?;
                }
                InputFormat::Json => {
                    if line.trim().is_empty() {
                        return Ok(false);
                    }
                    let obj: serde_json::Value = serde_json::from_str(&line)?;
                    let get = |f: &str| obj.get(f).cloned().unwrap_or(serde_json::Value::Null);
                    key.encode_json(&get("key"), &mut kb)?;
                    value.encode_json(&get("value"), &mut vb)?;
                }
            }
            Ok(true)
        })();
        if parsed.with_context(|| format!("{name}: line {line_no}"))? {
            f(&kb, &vb).with_context(|| format!("{name}: line {line_no}"))?;
        }
    }
    Ok(())
}

/// Bytes from hex (either case; surrounding white space ignored).
fn parse_hex(s: &str) -> Result<Vec<u8>> {
    hex::decode(s.trim()).with_context(|| format!("bad hex {:?}", s.trim()))
}
