//! `mammoth map …`: MapFile, SetFile, ArrayFile and BloomMapFile tools.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use seqfile::bloom::BloomParams;
use seqfile::hash::HashType;
use seqfile::map::{MapReader, MapWriter, MapWriterOptions};
use seqfile::order::KeyOrder;

use crate::records::{ClassArg, RecordInput};
use crate::seq::EncodingArgs;
use crate::seq::format::{BytesStyle, RecordFormatter};
use crate::ui::{progress, spinner};
use seqfile::sort::{Sorter, tmp_dir_for};

/// MapFile subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum MapCommand {
    /// Build a MapFile (or BloomMapFile with --bloom) from TSV, JSON lines or a dump.
    ///
    /// Input need not be sorted: records are sorted by the key class's
    /// Hadoop order (stable, so equal keys keep their input order), in
    /// memory up to --sort-memory, beyond that in sorted runs spilled next
    /// to the map and merged.
    Build(BuildArgs),
    /// Look keys up: prints `KEY<TAB>VALUE`; a missing key prints nothing
    /// and makes the exit status 1.
    Get(GetArgs),
    /// Ask the bloom filter alone: prints `KEY<TAB>true|false` per key.
    Probe(ProbeArgs),
    /// Print the index, bloom parameters and counts.
    Stat(StatArgs),
    /// Print the records in key order (as `seq cat`).
    Cat(CatArgs),
}

pub(crate) fn run(cmd: MapCommand) -> Result<ExitCode> {
    match cmd {
        MapCommand::Build(a) => build(&a).map(|()| ExitCode::SUCCESS),
        MapCommand::Get(a) => get(&a),
        MapCommand::Probe(a) => probe(&a).map(|()| ExitCode::SUCCESS),
        MapCommand::Stat(a) => stat(&a).map(|()| ExitCode::SUCCESS),
        MapCommand::Cat(a) => cat(&a).map(|()| ExitCode::SUCCESS),
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum HashArg {
    /// Hadoop's MurmurHash (the default).
    Murmur,
    /// Bob Jenkins' lookup3.
    Jenkins,
}

#[derive(Args, Debug)]
pub(crate) struct BuildArgs {
    /// The map directory to create.
    dir: PathBuf,
    #[command(flatten)]
    records: RecordInput,
    /// Records per index entry (Hadoop's io.map.index.interval).
    #[arg(long, default_value_t = seqfile::map::DEFAULT_INDEX_INTERVAL)]
    index_interval: u64,
    /// Write a BloomMapFile (adds the `bloom` filter file).
    #[arg(long)]
    bloom: bool,
    /// Keys per bloom filter row (Hadoop's io.mapfile.bloom.size).
    #[arg(long, default_value_t = 1_048_576)]
    bloom_size: i32,
    /// Bloom error rate (Hadoop's io.mapfile.bloom.error.rate).
    #[arg(long, default_value_t = 0.005)]
    bloom_error_rate: f32,
    /// Bloom hash (Hadoop's hadoop.util.hash.type).
    #[arg(long, value_enum, default_value_t = HashArg::Murmur)]
    bloom_hash: HashArg,
    /// Memory for sorting, in MiB; larger inputs are sorted in runs on disk.
    #[arg(long, default_value_t = 512)]
    sort_memory_mb: usize,
    #[command(flatten)]
    encoding: EncodingArgs,
}

fn build(a: &BuildArgs) -> Result<()> {
    let (key, value) = a.records.classes()?;
    let order = KeyOrder::for_class(&key.java);
    let pb = spinner("records read");
    let mut sorter =
        Sorter::new(order, a.sort_memory_mb.saturating_mul(1 << 20), tmp_dir_for(&a.dir));
    a.records.read(&key, &value, |k, v| {
        sorter.push(k, v)?;
        if sorter.records().is_multiple_of(65_536) {
            pb.set_position(sorter.records());
        }
        Ok(())
    })?;
    pb.finish_and_clear();
    let total = sorter.records();
    if sorter.spilled_runs() > 0 {
        eprintln!("merging {} sorted runs", sorter.spilled_runs() + 1);
    }
    let mut opts = MapWriterOptions::with_classes(&key.java, &value.java)
        .compression(a.encoding.compression())
        .index_interval(a.index_interval)
        .block_size(a.encoding.block_size());
    if a.bloom {
        let hash = match a.bloom_hash {
            HashArg::Murmur => HashType::Murmur,
            HashArg::Jenkins => HashType::Jenkins,
        };
        opts = opts.bloom(BloomParams { nr: a.bloom_size, error_rate: a.bloom_error_rate, hash });
    }
    let mut w = MapWriter::create(&a.dir, opts)?;
    let pb = progress(total, "writing");
    pb.set_style(indicatif::ProgressStyle::with_template(
        "{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta})",
    )?);
    sorter.finish(|k, v| {
        w.append_raw(k, v)?;
        if w.records() % 65_536 == 0 {
            pb.set_position(w.records());
        }
        Ok::<_, seqfile::Error>(())
    })?;
    let n = w.records();
    w.finish()?;
    pb.finish_and_clear();
    eprintln!(
        "wrote {n} records to {}{}",
        a.dir.display(),
        if a.bloom { " (with bloom filter)" } else { "" }
    );
    Ok(())
}

#[derive(Args, Debug)]
pub(crate) struct GetArgs {
    /// The map directory.
    dir: PathBuf,
    /// Keys: Text as text, Long/Int as decimal, BytesWritable as hex, or
    /// `hex:<serialized bytes>` for any class.
    #[arg(required = true)]
    keys: Vec<String>,
    /// Return the closest record: the first with key >= KEY (or, with
    /// --before, the last with key <= KEY).
    #[arg(long)]
    closest: bool,
    /// With --closest: the last record at or before the key.
    #[arg(long, requires = "closest")]
    before: bool,
    /// Print found records as canonical dump lines.
    #[arg(long, conflicts_with = "json")]
    dump: bool,
    /// Print found records as JSON lines.
    #[arg(long)]
    json: bool,
}

fn get(a: &GetArgs) -> Result<ExitCode> {
    let mut r = MapReader::open(&a.dir)?;
    let key_class = ClassArg::of_header(&r.header().key_class);
    let fmt = RecordFormatter::new(r.header(), BytesStyle::Hex, a.json);
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut missing = 0;
    let mut line = Vec::new();
    for k in &a.keys {
        let key = key_class.encode_cli_key(k)?;
        let rec = if a.closest {
            r.get_closest(&key, a.before)?
        } else {
            r.get(&key)?.map(|value| seqfile::Record { key: key.clone().into(), value })
        };
        let Some(rec) = rec else {
            missing += 1;
            continue;
        };
        line.clear();
        if a.dump {
            line.extend_from_slice(hex::encode(&rec.key).as_bytes());
            line.push(b'\t');
            line.extend_from_slice(hex::encode(&rec.value).as_bytes());
            line.push(b'\n');
        } else {
            fmt.format(&rec, &mut line)?;
        }
        out.write_all(&line)?;
    }
    out.flush()?;
    Ok(if missing == 0 { ExitCode::SUCCESS } else { crate::ui::NOT_FOUND })
}

#[derive(Args, Debug)]
pub(crate) struct ProbeArgs {
    /// The BloomMapFile directory.
    dir: PathBuf,
    /// Keys, as for `map get`.
    #[arg(required = true)]
    keys: Vec<String>,
}

fn probe(a: &ProbeArgs) -> Result<()> {
    let r = MapReader::open(&a.dir)?;
    if r.bloom().is_none() {
        bail!("{}: no bloom filter (not a BloomMapFile)", a.dir.display());
    }
    let key_class = ClassArg::of_header(&r.header().key_class);
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for k in &a.keys {
        let key = key_class.encode_cli_key(k)?;
        writeln!(out, "{k}\t{}", r.probably_has_key(&key))?;
    }
    out.flush()?;
    Ok(())
}

#[derive(Args, Debug)]
pub(crate) struct StatArgs {
    /// The map directory.
    dir: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn stat(a: &StatArgs) -> Result<()> {
    let mut r = MapReader::open(&a.dir)?;
    let h = r.header().clone();
    let index_entries = r.index().count();
    let mid = r.mid_key().map(|k| seqfile::map::display_key(&h.key_class, k));
    let last = r.final_key()?.map(|k| seqfile::map::display_key(&h.key_class, &k));
    let mut records = 0u64;
    r.rewind()?;
    while r.next_record()?.is_some() {
        records += 1;
    }
    let bloom = r.bloom().map(|b| {
        serde_json::json!({
            "hash": format!("{:?}", b.hash_type()).to_lowercase(),
            "nb_hash": b.nb_hash(),
            "vector_size": b.vector_size(),
            "nr": b.nr(),
            "rows": b.rows().len(),
            "current_nb_record": b.current_nb_record(),
        })
    });
    let kind = if bloom.is_some() { "bloom" } else { "map" };
    let o = serde_json::json!({
        "dir": a.dir.display().to_string(),
        "kind": kind,
        "key_class": h.key_class,
        "value_class": h.value_class,
        "compression": h.compression.type_name(),
        "codec": h.compression.codec().map(seqfile::Codec::class_name),
        "records": records,
        "index_entries": index_entries,
        "mid_key": mid,
        "final_key": last,
        "bloom": bloom,
    });
    if a.json {
        println!("{o}");
    } else {
        for (k, v) in o.as_object().into_iter().flatten() {
            match v {
                serde_json::Value::String(s) => println!("{k:<14} {s}"),
                serde_json::Value::Null => println!("{k:<14} -"),
                other => println!("{k:<14} {other}"),
            }
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
pub(crate) struct CatArgs {
    /// The map directory.
    dir: PathBuf,
    #[command(flatten)]
    output: crate::seq::OutputArgs,
}

fn cat(a: &CatArgs) -> Result<()> {
    let data = a.dir.join(seqfile::map::DATA);
    if !data.exists() {
        bail!("{}: not a map directory (no data file)", a.dir.display());
    }
    crate::seq::cat(&data, &a.output, None)
}
