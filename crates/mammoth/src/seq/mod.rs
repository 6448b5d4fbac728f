//! `mammoth seq …`: SequenceFile tools.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use seqfile::{Codec, Compression, Reader, Writer, WriterOptions};

pub(crate) mod format;

use format::{BytesStyle, RecordFormatter};

use crate::records::RecordInput;
use crate::ui::{progress, spinner};

/// SequenceFile subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum SeqCommand {
    /// Print records: Text and numbers as text, bytes as hex or base64.
    ///
    /// Output is one `key<TAB>value` line per record, or JSON lines with
    /// `--json`, or with `--dump` the canonical dump that the real-Hadoop peer
    /// prints too (header lines starting with `#`, then
    /// `hex(serialized key)<TAB>hex(serialized value)` per record, then
    /// `#records` and `#sha256`), so any file can be compared with Hadoop's
    /// own reading of it line for line.
    Cat(CatArgs),
    /// Print the first records (like `cat --limit`).
    Head(HeadArgs),
    /// Print the header, metadata and record, block and sync counts.
    Stat(StatArgs),
    /// Write a SequenceFile from TSV, JSON lines or a canonical dump.
    Write(WriteArgs),
    /// Re-encode a SequenceFile with another layout or codec.
    Convert(ConvertArgs),
}

pub(crate) fn run(cmd: SeqCommand) -> Result<ExitCode> {
    match cmd {
        SeqCommand::Cat(a) => cat(&a.file, &a.output, a.limit),
        SeqCommand::Head(a) => cat(&a.file, &a.output, Some(a.lines)),
        SeqCommand::Stat(a) => stat(&a),
        SeqCommand::Write(a) => write(&a),
        SeqCommand::Convert(a) => convert(&a),
    }
    .map(|()| ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
pub(crate) struct OutputArgs {
    /// Print JSON lines: {"key": …, "value": …}.
    #[arg(long, conflicts_with = "dump")]
    json: bool,
    /// Print the canonical dump (see `mammoth seq cat --help`).
    #[arg(long)]
    dump: bool,
    /// How to print byte strings (BytesWritable, MD5Hash, unknown classes).
    #[arg(long, value_enum, default_value_t = BytesStyle::Hex)]
    bytes: BytesStyle,
}

#[derive(Args, Debug)]
pub(crate) struct CatArgs {
    /// The SequenceFile.
    file: PathBuf,
    #[command(flatten)]
    output: OutputArgs,
    /// Stop after this many records.
    #[arg(long, short = 'n')]
    limit: Option<u64>,
}

#[derive(Args, Debug)]
pub(crate) struct HeadArgs {
    /// The SequenceFile.
    file: PathBuf,
    /// Number of records.
    #[arg(long, short = 'n', default_value_t = 10)]
    lines: u64,
    #[command(flatten)]
    output: OutputArgs,
}

pub(crate) fn cat(path: &Path, out_args: &OutputArgs, limit: Option<u64>) -> Result<()> {
    let mut r = Reader::open(path)?;
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    if out_args.dump {
        seqfile::dump::write_header(&mut out, &path.display().to_string(), "seq", r.header())?;
        let mut d = seqfile::dump::Dump::new(Some(&mut out));
        while let Some(rec) = r.next_record()? {
            if limit.is_some_and(|l| d.count() >= l) {
                break;
            }
            d.record(&rec.key, &rec.value)?;
        }
        d.finish()?;
        return Ok(());
    }
    let f = RecordFormatter::new(r.header(), out_args.bytes, out_args.json);
    let mut n = 0u64;
    let mut line = Vec::new();
    while limit.is_none_or(|l| n < l) {
        let at = r.position();
        let Some(rec) = r.next_record()? else { break };
        line.clear();
        f.format(&rec, &mut line)
            .with_context(|| format!("{}: record at offset {at}", path.display()))?;
        out.write_all(&line)?;
        n += 1;
    }
    out.flush()?;
    Ok(())
}

#[derive(Args, Debug)]
pub(crate) struct StatArgs {
    /// The SequenceFile.
    file: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Only read the header (no record, block or sync counts).
    #[arg(long)]
    header_only: bool,
}

fn stat(a: &StatArgs) -> Result<()> {
    let mut r = Reader::open(&a.file)?;
    let file_len = std::fs::metadata(&a.file)?.len();
    let h = r.header().clone();
    let mut counts = None;
    if !a.header_only {
        let pb = progress(file_len, "reading");
        let (mut records, mut raw_key, mut raw_value) = (0u64, 0u64, 0u64);
        while let Some(rec) = r.next_record()? {
            records += 1;
            raw_key += rec.key.len() as u64;
            raw_value += rec.value.len() as u64;
            if records % 4096 == 0 {
                pb.set_position(r.position());
            }
        }
        pb.finish_and_clear();
        counts = Some((records, raw_key, raw_value, r.blocks_read(), r.syncs_seen()));
    }
    let meta: Vec<(String, String)> = h
        .metadata
        .iter()
        .map(|(n, v)| {
            (String::from_utf8_lossy(n).into_owned(), String::from_utf8_lossy(v).into_owned())
        })
        .collect();
    if a.json {
        let mut o = serde_json::json!({
            "path": a.file.display().to_string(),
            "file_bytes": file_len,
            "version": h.version,
            "key_class": h.key_class,
            "value_class": h.value_class,
            "compression": h.compression.type_name(),
            "codec": h.compression.codec().map(Codec::class_name),
            "header_bytes": r.header_len(),
            "sync": hex::encode(h.sync),
            "metadata": meta.iter().map(|(n, v)| (n.clone(), serde_json::Value::from(v.as_str()))).collect::<serde_json::Map<_, _>>(),
        });
        if let Some((records, k, v, blocks, syncs)) = counts {
            o["records"] = records.into();
            o["raw_key_bytes"] = k.into();
            o["raw_value_bytes"] = v.into();
            o["blocks"] = blocks.into();
            o["sync_entries"] = syncs.into();
        }
        println!("{o}");
        return Ok(());
    }
    println!("path         {}", a.file.display());
    println!("file bytes   {file_len}");
    println!("version      {}", h.version);
    println!("key class    {}", h.key_class);
    println!("value class  {}", h.value_class);
    println!("compression  {}", h.compression.type_name());
    println!("codec        {}", h.compression.codec().map_or("-", Codec::class_name));
    println!("header bytes {}", r.header_len());
    println!("sync marker  {}", hex::encode(h.sync));
    println!("metadata     {} entries", meta.len());
    for (n, v) in &meta {
        println!("  {n} = {v}");
    }
    if let Some((records, k, v, blocks, syncs)) = counts {
        println!("records      {records}");
        println!("raw bytes    {k} key + {v} value");
        if matches!(h.compression, Compression::Block(_)) {
            println!("blocks       {blocks}");
        } else {
            println!("sync entries {syncs}");
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
pub(crate) struct EncodingArgs {
    /// Record layout.
    #[arg(long, value_enum, default_value_t = LayoutArg::Block)]
    compression: LayoutArg,
    /// Codec for RECORD and BLOCK: default (zlib), deflate, gzip, bzip2, snappy, lz4, zstd.
    #[arg(long, default_value = "default", value_parser = parse_codec)]
    codec: Codec,
    /// Bytes between sync entries in NONE/RECORD files (Hadoop's default).
    #[arg(long, default_value_t = seqfile::DEFAULT_SYNC_INTERVAL)]
    sync_interval: u64,
    /// Raw key+value bytes per block in BLOCK files (Hadoop's default).
    #[arg(long, default_value_t = seqfile::DEFAULT_BLOCK_SIZE)]
    block_size: usize,
    /// Compression level (zlib/gzip 0-9, bzip2 1-9, zstd 1-22); codec default otherwise.
    #[arg(long)]
    level: Option<u32>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum LayoutArg {
    /// Uncompressed records.
    None,
    /// Each value compressed on its own.
    Record,
    /// Records grouped into compressed blocks.
    Block,
}

fn parse_codec(s: &str) -> Result<Codec, String> {
    Codec::from_name(s).ok_or_else(|| {
        format!("unknown codec {s:?}; one of: {}", Codec::ALL.map(Codec::name).join(", "))
    })
}

impl EncodingArgs {
    pub(crate) fn compression(&self) -> Compression {
        match self.compression {
            LayoutArg::None => Compression::None,
            LayoutArg::Record => Compression::Record(self.codec),
            LayoutArg::Block => Compression::Block(self.codec),
        }
    }

    pub(crate) fn block_size(&self) -> usize {
        self.block_size
    }

    pub(crate) fn apply(&self, opts: WriterOptions) -> WriterOptions {
        let opts = opts
            .compression(self.compression())
            .sync_interval(self.sync_interval)
            .block_size(self.block_size);
        match self.level {
            Some(l) => opts.level(l),
            None => opts,
        }
    }
}

#[derive(Args, Debug)]
pub(crate) struct WriteArgs {
    /// The SequenceFile to create.
    out: PathBuf,
    #[command(flatten)]
    records: RecordInput,
    /// Metadata entry NAME=VALUE (repeatable).
    #[arg(long = "meta", value_name = "NAME=VALUE")]
    meta: Vec<String>,
    #[command(flatten)]
    encoding: EncodingArgs,
}

fn write(a: &WriteArgs) -> Result<()> {
    let (key, value) = a.records.classes()?;
    let mut opts = a.encoding.apply(WriterOptions::with_classes(&key.java, &value.java));
    for m in &a.meta {
        let (n, v) =
            m.split_once('=').with_context(|| format!("--meta {m:?} is not NAME=VALUE"))?;
        opts = opts.metadata(n.as_bytes().to_vec(), v.as_bytes().to_vec());
    }
    let mut w = Writer::create(&a.out, opts)?;
    let pb = spinner("records");
    a.records.read(&key, &value, |k, v| {
        w.append_raw(k, v)?;
        if w.records() % 8192 == 0 {
            pb.set_position(w.records());
        }
        Ok(())
    })?;
    let n = w.records();
    let out = w.finish()?;
    drop(out);
    pb.finish_and_clear();
    let size = std::fs::metadata(&a.out)?.len();
    eprintln!("wrote {n} records ({size} bytes) to {}", a.out.display());
    Ok(())
}

#[derive(Args, Debug)]
pub(crate) struct ConvertArgs {
    /// The SequenceFile to read.
    input: PathBuf,
    /// The SequenceFile to create (classes and metadata are kept).
    out: PathBuf,
    #[command(flatten)]
    encoding: EncodingArgs,
}

fn convert(a: &ConvertArgs) -> Result<()> {
    if a.input == a.out {
        bail!("{}: input and output are the same file", a.out.display());
    }
    let mut reader = Reader::open(&a.input)?;
    let in_len = std::fs::metadata(&a.input)?.len();
    let h = reader.header().clone();
    let opts = a
        .encoding
        .apply(WriterOptions::with_classes(&h.key_class, &h.value_class))
        .metadata_map(h.metadata.clone());
    let mut w = Writer::create(&a.out, opts)?;
    let pb = progress(in_len, "converting");
    while let Some(rec) = reader.next_record()? {
        w.append_raw(&rec.key, &rec.value)?;
        if w.records() % 4096 == 0 {
            pb.set_position(reader.position());
        }
    }
    let n = w.records();
    w.finish()?;
    pb.finish_and_clear();
    let out_len = std::fs::metadata(&a.out)?.len();
    eprintln!(
        "converted {n} records: {} ({in_len} bytes, {} {}) -> {} ({out_len} bytes, {} {})",
        a.input.display(),
        h.compression.type_name(),
        h.compression.codec().map_or("-", Codec::name),
        a.out.display(),
        a.encoding.compression().type_name(),
        a.encoding.compression().codec().map_or("-", Codec::name),
    );
    Ok(())
}
