//! `mammoth tap mirror|export` and `mammoth import`: the TAP consumer side
//! (library: the `tap` crate; file layout: `docs/tap-export.md`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use memcache::sasl::Users;
use seqfile::{Codec, Compression};
use tap::export::{ExportJob, ExportOptions, ExportReport, Format, Layout, Roll, export};
use tap::import::{ImportOptions, ImportStats, import, sources};
use tap::mirror::{MirrorOptions, MirrorStats, Report, mirror};
use tap::{Endpoint, Target};

use crate::auth::{AuthArgs, split_scheme};

/// TAP consumers: mirror a server, export it as Hadoop files.
#[derive(Subcommand, Debug)]
pub(crate) enum TapCommand {
    /// Keep TO a continuous copy of FROM (restartable; Ctrl-C stops).
    Mirror(MirrorArgs),
    /// Write FROM's items as a SequenceFile, MapFile or BloomMapFile.
    Export(ExportArgs),
}

#[derive(Args, Debug)]
pub(crate) struct MirrorArgs {
    /// Source server, HOST:PORT (tls://HOST:PORT for TLS, with --tls-ca).
    #[arg(long)]
    from: String,
    /// Target server, HOST:PORT (tls://HOST:PORT for TLS, with --tls-ca).
    #[arg(long)]
    to: String,
    /// Registered TAP client name on the source (default: mirror-TO).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    auth: AuthArgs,
    /// Mirror every bucket listed in --users (one stream each).
    #[arg(long, requires = "users", conflicts_with = "bucket")]
    all_buckets: bool,
    /// The servers' users file (`user:password` per line), for --all-buckets.
    #[arg(long)]
    users: Option<PathBuf>,
    /// Only keys starting with this prefix.
    #[arg(long)]
    key_prefix: Option<String>,
    /// Only items this filter expression selects, e.g. `prefix:reading/`,
    /// `range:a..b`, `flags:0xff=1`, `json:/t > 20`, `lua:FN`, combined
    /// with and, or, not and parentheses (docs/tap-filters.md). Run again
    /// with another filter (same --name) and the target converges to it.
    #[arg(long, value_parser = parse_filter)]
    filter: Option<String>,
    /// Requests per pipeline to the target.
    #[arg(long, default_value_t = 2000)]
    batch: usize,
    /// Seconds between status lines on stderr (0: none).
    #[arg(long, default_value_t = 10)]
    status_every: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum FormatArg {
    Seq,
    Mapfile,
    Bloommap,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum LayoutArg {
    /// 25-byte header (kind, flags, expiry, CAS, seqno) then the value.
    Item,
    /// The value alone (no flags/expiry/CAS; no --follow).
    Raw,
}

#[derive(Args, Debug)]
pub(crate) struct ExportArgs {
    /// Source server, HOST:PORT (tls://HOST:PORT for TLS, with --tls-ca).
    #[arg(long)]
    from: String,
    /// Output directory: the snapshot as part-NNNNN.seq or part-NNNNN/
    /// (see --part), then seg-NNNNNN.seq with --follow. Spark and Hive read
    /// the whole directory as one data set (point them at DIR, not at
    /// DIR/part-00000, whose index they would read as data too).
    #[arg(long)]
    out: PathBuf,
    /// The snapshot's number in its name: several exports (one per server
    /// of a cluster, see `mammoth cluster export`) can share one directory.
    #[arg(long, default_value_t = 0)]
    part: u32,
    /// File kind of the snapshot.
    #[arg(long, value_enum, default_value = "seq")]
    format: FormatArg,
    #[command(flatten)]
    file: FileArgs,
    /// After the snapshot, keep appending live changes to rolled segments.
    #[arg(long)]
    follow: bool,
    /// Records per segment.
    #[arg(long, default_value_t = 1_000_000)]
    roll_records: u64,
    /// Seconds a segment stays open at most.
    #[arg(long, default_value_t = 60)]
    roll_secs: u64,
    /// Only keys starting with this prefix.
    #[arg(long)]
    key_prefix: Option<String>,
    /// Only items this filter expression selects (see `tap mirror --help`
    /// and docs/tap-filters.md).
    #[arg(long, value_parser = parse_filter)]
    filter: Option<String>,
    #[command(flatten)]
    auth: AuthArgs,
}

/// How records are written, for `tap export` and `cluster export`.
#[derive(Args, Debug)]
pub(crate) struct FileArgs {
    /// Record layout (docs/tap-export.md).
    #[arg(long, value_enum, default_value = "item")]
    layout: LayoutArg,
    /// BLOCK-compress with this codec (none, default/zlib, gzip, bzip2, snappy, lz4, zstd).
    /// Default: none for seq, BLOCK default (zlib) for mapfile and bloommap.
    #[arg(long)]
    codec: Option<String>,
}

impl FileArgs {
    /// The export options for a snapshot of `format` named `part`, read
    /// from `from`.
    pub(crate) fn options(
        &self,
        format: FormatArg,
        from: &str,
        part: u32,
    ) -> Result<ExportOptions> {
        let format = match format {
            FormatArg::Seq => Format::Seq,
            FormatArg::Mapfile => Format::MapFile,
            FormatArg::Bloommap => Format::BloomMap,
        };
        let layout = match self.layout {
            LayoutArg::Item => Layout::Item,
            LayoutArg::Raw => Layout::Raw,
        };
        let compression = match self.codec.as_deref() {
            None => format.default_compression(),
            Some("none") => Compression::None,
            Some(name) => Compression::Block(
                Codec::from_name(name).with_context(|| format!("unknown codec {name:?}"))?,
            ),
        };
        Ok(ExportOptions {
            format,
            layout,
            compression,
            metadata: vec![("mammoth.source".into(), from.to_string())],
            part,
        })
    }
}

/// Checks a filter expression here, so a typo is reported before anything
/// connects.
fn parse_filter(text: &str) -> std::result::Result<String, String> {
    filter::Filter::parse(text.as_bytes()).map(|_| text.to_string()).map_err(|e| e.to_string())
}

#[derive(Args, Debug)]
pub(crate) struct ImportArgs {
    /// A SequenceFile, a MapFile directory, or a directory of them.
    path: PathBuf,
    /// Target server, HOST:PORT (tls://HOST:PORT for TLS, with --tls-ca).
    #[arg(long)]
    to: String,
    #[command(flatten)]
    auth: AuthArgs,
    /// Requests per pipeline.
    #[arg(long, default_value_t = 2000)]
    batch: usize,
}

pub(crate) fn run(cmd: TapCommand) -> Result<ExitCode> {
    match cmd {
        TapCommand::Mirror(a) => run_mirror(&a),
        TapCommand::Export(a) => run_export(&a),
    }
}

fn summary(name: &str, s: &MirrorStats) -> String {
    format!(
        "mirror {name}: {} sessions, {} events, {} sets, {} deletes, {} flushes, {} rejected, {} acks, {} backfills, last seqno {}",
        s.sessions,
        s.events,
        s.sets,
        s.deletes,
        s.flushes,
        s.rejected,
        s.acks,
        s.backfills,
        s.last_seqno.map_or_else(|| "-".to_owned(), |n| n.to_string())
    )
}

fn run_mirror(a: &MirrorArgs) -> Result<ExitCode> {
    let stop = crate::ui::stop_flag();
    let base = a.name.clone().unwrap_or_else(|| format!("mirror-{}", split_scheme(&a.to).0));
    let make = |name: String, from: Endpoint, to: Endpoint| {
        let mut o = MirrorOptions::new(from, to, name);
        o.batch_records = a.batch.max(1);
        o.key_prefix = a.key_prefix.clone().map(|p| p.into_bytes().into());
        o.filter.clone_from(&a.filter);
        o
    };
    let mut jobs: Vec<(String, MirrorOptions)> = Vec::new();
    if a.all_buckets {
        let path = a.users.as_ref().context("--all-buckets needs --users")?;
        let users = Users::load(path)?;
        if users.is_empty() {
            bail!("{}: no users", path.display());
        }
        for (user, password) in users.credentials() {
            let from = a.auth.connection(&a.from)?.with_auth(user, password);
            let to = a.auth.connection(&a.to)?.with_auth(user, password);
            jobs.push((user.to_owned(), make(format!("{base}-{user}"), from, to)));
        }
    } else {
        let (from, to) = (a.auth.endpoint(&a.from)?, a.auth.endpoint(&a.to)?);
        jobs.push((a.auth.bucket.clone().unwrap_or_default(), make(base.clone(), from, to)));
    }
    eprintln!(
        "mammoth: mirroring {} -> {} ({} stream{}, client name {base}); Ctrl-C stops",
        a.from,
        a.to,
        jobs.len(),
        if jobs.len() == 1 { "" } else { "s" }
    );
    let every = Duration::from_secs(a.status_every);
    let handles: Vec<_> = jobs
        .into_iter()
        .map(|(bucket, opts)| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let label = if bucket.is_empty() { opts.name.clone() } else { bucket };
                let mut last = Instant::now();
                let r = mirror(&opts, &stop, &mut |r| match r {
                    Report::Progress(s) => {
                        if !every.is_zero() && last.elapsed() >= every {
                            last = Instant::now();
                            let phase = if s.in_backfill { " (backfill)" } else { "" };
                            eprintln!("mammoth: {}{phase}", summary(&label, s));
                        }
                    }
                    Report::Reconnecting { error, retry_in } => {
                        let error = crate::ui::chain(error);
                        eprintln!(
                            "mammoth: mirror {label}: {error}; reconnecting in {retry_in:.1?}"
                        );
                    }
                    Report::Rejected(e) => {
                        eprintln!("mammoth: mirror {label}: {}", crate::ui::chain(e));
                    }
                });
                (label, r)
            })
        })
        .collect();
    let mut failed = false;
    for h in handles {
        match h.join() {
            Ok((label, Ok(s))) => eprintln!("mammoth: stopped; {}", summary(&label, &s)),
            Ok((label, Err(e))) => {
                eprintln!("mammoth: mirror {label}: {}", crate::ui::chain(&e));
                failed = true;
                stop.store(true, Ordering::SeqCst);
            }
            Err(_) => failed = true,
        }
    }
    Ok(if failed { crate::ui::error_exit() } else { ExitCode::SUCCESS })
}

fn run_export(a: &ExportArgs) -> Result<ExitCode> {
    let job = ExportJob {
        source: a.auth.endpoint(&a.from)?,
        dir: a.out.clone(),
        options: a.file.options(a.format, &a.from, a.part)?,
        key_prefix: a.key_prefix.clone().map(|p| p.into_bytes().into()),
        filter: a.filter.clone(),
        keep: None,
        follow: a.follow.then(|| Roll {
            records: a.roll_records.max(1),
            age: Duration::from_secs(a.roll_secs.max(1)),
        }),
    };
    let stop = crate::ui::stop_flag();
    let spinner = crate::ui::spinner("items");
    let done = export(&job, &stop, &mut |r| match r {
        ExportReport::Progress(n) => spinner.set_position(n),
        ExportReport::Snapshot { path, records, elapsed } => spinner.suspend(|| {
            eprintln!("mammoth: wrote {} ({records} records) in {elapsed:.1?}", path.display());
        }),
        ExportReport::Reconnecting(e) => spinner.suspend(|| {
            eprintln!("mammoth: export: {}; reconnecting", crate::ui::chain(e));
        }),
    });
    spinner.finish_and_clear();
    let done = done.with_context(|| format!("export of {} into {}", a.from, a.out.display()))?;
    if a.follow {
        eprintln!("mammoth: {} live changes in {} segments", done.live_changes, done.segments);
    }
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::cast_precision_loss)] // a rate for humans
pub(crate) fn run_import(a: &ImportArgs) -> Result<ExitCode> {
    let endpoint = a.auth.endpoint(&a.to)?;
    let srcs = sources(&a.path)?;
    if srcs.is_empty() {
        bail!("{}: no SequenceFile or MapFile found", a.path.display());
    }
    let total: u64 = srcs.iter().map(|s| s.len).sum();
    let mut target = Target::connect(&endpoint).with_context(|| format!("connect to {}", a.to))?;
    let pb = crate::ui::progress(total, "import");
    let started = Instant::now();
    let opts = ImportOptions { batch_records: a.batch.max(1), ..ImportOptions::default() };
    let mut all = ImportStats::default();
    let mut done = 0u64;
    for src in &srcs {
        let st = import(src, &mut target, opts, &mut |pos| pb.set_position(done + pos))?;
        done += src.len;
        for e in target.take_rejections() {
            pb.suspend(|| eprintln!("mammoth: import: {}", crate::ui::chain(&e)));
        }
        all.files += st.files;
        all.records += st.records;
        all.bad_keys += st.bad_keys;
        all.expired += st.expired;
        all.applied += st.applied;
    }
    pb.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "mammoth: imported {} records from {} file{} into {} in {elapsed:.2} s ({:.0} records/s): {} sets, {} deletes, {} flushes, {} refused, {} bad keys skipped, {} expired skipped",
        all.records,
        all.files,
        if all.files == 1 { "" } else { "s" },
        a.to,
        all.records as f64 / elapsed.max(1e-9),
        all.applied.sets,
        all.applied.deletes,
        all.applied.flushes,
        all.applied.rejected,
        all.bad_keys,
        all.expired,
    );
    Ok(if all.applied.rejected > 0 { crate::ui::error_exit() } else { ExitCode::SUCCESS })
}
