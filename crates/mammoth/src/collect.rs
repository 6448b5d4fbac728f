//! `mammoth collect`: sensor readings from multicast (or unicast) UDP into
//! a server (library: the `collect` crate), plus `collect send` (numbered
//! test datagrams) and `collect bench`.

// Rates and shares are printed, not stored: f64 precision is plenty. The
// clap doc comments are --help text, where backticks would show.
#![allow(clippy::cast_precision_loss, clippy::doc_markdown)]

use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::auth::AuthArgs;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use collect::bench::{BenchOptions, InfluxPeer, Round, median};
use collect::send::{SeqFormat, Sequence, send};
use collect::{Collector, Config, Event, Format, IbuttonOptions, InfluxOptions, Precision, Stats};

/// `mammoth collect` and its subcommands.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct CollectArgs {
    #[command(subcommand)]
    command: Option<CollectCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum CollectCommand {
    /// Send sequence-numbered test readings (to check a collector).
    Send(SendArgs),
    /// Measure stored rate and loss at given send rates, optionally beside
    /// InfluxDB's UDP input (see interop/influxdb/bench-collect.sh).
    Bench(Box<BenchArgs>),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FormatArg {
    /// `YYYY/MM/DD HH:MM:SS.ffffff<TAB>serial<TAB>reading[<TAB>k=v,…]`.
    Ibutton,
    /// InfluxDB line protocol.
    Influx,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PrecisionArg {
    Ns,
    Us,
    Ms,
    S,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Group (or unicast address) to listen on, ADDR:PORT; repeatable. The
    /// notebook's sensors use 225.0.0.37:6789.
    #[arg(long = "group", value_name = "ADDR:PORT", required = true)]
    groups: Vec<SocketAddr>,
    /// Server to store into, HOST:PORT (tls://HOST:PORT for TLS).
    #[arg(long, default_value = "127.0.0.1:11211")]
    to: String,
    #[command(flatten)]
    auth: AuthArgs,
    /// Datagram format.
    #[arg(long, value_enum, default_value = "ibutton")]
    format: FormatArg,
    /// Interface (by its IPv4 address) to join the groups on; 0.0.0.0 lets
    /// the kernel choose by its routes.
    #[arg(long, default_value = "0.0.0.0")]
    interface: Ipv4Addr,
    /// Receive buffer to ask for per group (bytes; Linux caps it at
    /// net.core.rmem_max and reports double).
    #[arg(long, default_value_t = 8 << 20)]
    recv_buffer: usize,
    /// Readings per pipeline at most.
    #[arg(long, default_value_t = 5000)]
    batch: usize,
    /// Milliseconds a batch's first reading waits for more.
    #[arg(long, default_value_t = 50)]
    flush_ms: u64,
    /// Datagrams held in memory, unparsed, while the server is slow or
    /// away; past it, reading stops and the kernel drops (counted).
    #[arg(long, default_value_t = 500_000)]
    max_pending: usize,
    /// Recent keys remembered to skip duplicated datagrams (0: off).
    #[arg(long, default_value_t = 200_000)]
    dedup_window: usize,
    /// Seconds between status lines on stderr (0: none).
    #[arg(long, default_value_t = 10)]
    status_every: u64,
    /// Seconds to keep retrying an unreachable server after Ctrl-C.
    #[arg(long, default_value_t = 10)]
    drain_secs: u64,
    /// iButton: the senders' zone for times without one, ±HH:MM.
    #[arg(long, default_value = "+00:00", allow_hyphen_values = true)]
    utc_offset: String,
    /// Line protocol: the tag naming the sensor (else the measurement).
    #[arg(long, default_value = "serial")]
    serial_tag: String,
    /// Line protocol: the field holding the reading (else the first field).
    #[arg(long, default_value = "reading")]
    reading_field: String,
    /// Line protocol: timestamp units.
    #[arg(long, value_enum, default_value = "ns")]
    precision: PrecisionArg,
}

#[derive(Args, Debug)]
struct SendArgs {
    /// Destination group or address, ADDR:PORT.
    #[arg(long = "group", value_name = "ADDR:PORT")]
    group: SocketAddr,
    /// Interface to send multicast from.
    #[arg(long, default_value = "127.0.0.1")]
    interface: Ipv4Addr,
    /// Multicast TTL (0: this host only, 1: the link).
    #[arg(long, default_value_t = 0)]
    ttl: u32,
    /// Datagrams a second, or "max".
    #[arg(long, default_value = "1000")]
    rate: String,
    /// Datagrams to send.
    #[arg(long, default_value_t = 10_000)]
    count: u64,
    /// First sequence number.
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Format.
    #[arg(long, value_enum, default_value = "ibutton")]
    format: FormatArg,
    /// Serial prefix of this run.
    #[arg(long, default_value = "SEQ")]
    run: String,
    /// Sensors the readings rotate over.
    #[arg(long, default_value_t = 16)]
    sensors: u32,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Server the collector stores into, HOST:PORT (a durable mammoth serve;
    /// tls://HOST:PORT for TLS).
    #[arg(long, default_value = "127.0.0.1:11211")]
    to: String,
    #[command(flatten)]
    auth: AuthArgs,
    /// Group the in-process collector listens on (port 0: any free one).
    #[arg(long, default_value = "225.0.0.37:0")]
    group: SocketAddr,
    /// Interface to join and send on.
    #[arg(long, default_value = "127.0.0.1")]
    interface: Ipv4Addr,
    /// Send rates, datagrams a second, comma-separated; "max" for as fast
    /// as possible.
    #[arg(long, default_value = "10000,100000,max", value_delimiter = ',')]
    rates: Vec<String>,
    /// Seconds of sending per round.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Rounds per rate and system (alternating); medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Datagram format.
    #[arg(long, value_enum, default_value = "influx")]
    format: FormatArg,
    /// Collector batch size.
    #[arg(long, default_value_t = 5000)]
    batch: usize,
    /// Collector receive buffer request.
    #[arg(long, default_value_t = 8 << 20)]
    recv_buffer: usize,
    /// InfluxDB's UDP input, to compare with (needs --influx-http).
    #[arg(long, requires = "influx_http")]
    influx_udp: Option<SocketAddr>,
    /// InfluxDB's HTTP API.
    #[arg(long, requires = "influx_udp")]
    influx_http: Option<SocketAddr>,
    /// The UDP input's database.
    #[arg(long, default_value = "collect")]
    influx_db: String,
}

pub(crate) fn run(args: CollectArgs) -> Result<ExitCode> {
    match args.command {
        Some(CollectCommand::Send(a)) => run_send(&a),
        Some(CollectCommand::Bench(a)) => run_bench(&a),
        None => run_collect(&args.run),
    }
}

fn parse_offset(s: &str) -> Result<i32> {
    let bad = || format!("--utc-offset {s:?} is not ±HH:MM");
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => bail!(bad()),
    };
    let (h, m) = rest.split_once(':').with_context(bad)?;
    let (h, m): (i32, i32) = (h.parse().with_context(bad)?, m.parse().with_context(bad)?);
    if !(0..=23).contains(&h) || !(0..=59).contains(&m) {
        bail!(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

fn format_of(a: &RunArgs) -> Result<Format> {
    Ok(match a.format {
        FormatArg::Ibutton => {
            Format::Ibutton(IbuttonOptions { utc_offset_secs: parse_offset(&a.utc_offset)? })
        }
        FormatArg::Influx => Format::Influx(InfluxOptions {
            serial_tag: a.serial_tag.clone(),
            reading_field: a.reading_field.clone(),
            precision: match a.precision {
                PrecisionArg::Ns => Precision::Nanoseconds,
                PrecisionArg::Us => Precision::Microseconds,
                PrecisionArg::Ms => Precision::Milliseconds,
                PrecisionArg::S => Precision::Seconds,
            },
        }),
    })
}

fn status(s: &Stats, prev: &Stats, secs: f64) -> String {
    let dropped = s.kernel.map_or_else(|| "n/a".to_owned(), |k| k.drops.to_string());
    format!(
        "received {} datagrams ({:.0}/s), {} readings, stored {} ({:.0}/s), malformed {}, duplicates {}, dropped {dropped} (kernel), rejected {}, pending {}, reconnects {}",
        s.datagrams,
        (s.datagrams - prev.datagrams) as f64 / secs.max(1e-9),
        s.readings,
        s.stored,
        (s.stored - prev.stored) as f64 / secs.max(1e-9),
        s.malformed,
        s.duplicates,
        s.rejected,
        s.pending(),
        s.reconnects,
    )
}

fn log_event(e: &Event) {
    match e {
        Event::Malformed { from, error, line } => {
            eprintln!("collect: malformed line from {from}: {error}: {line:?}");
        }
        Event::Connected { server } => eprintln!("collect: connected to {server}"),
        Event::Retrying { error, readings, retry_in } => eprintln!(
            "collect: storing {readings} readings failed ({error}); retrying in {} ms",
            retry_in.as_millis()
        ),
        Event::Rejected { error } => eprintln!("collect: server refused a write: {error}"),
        Event::Receive { group, error } => eprintln!("collect: receive on {group}: {error}"),
        other => eprintln!("collect: {other:?}"),
    }
}

fn run_collect(a: &RunArgs) -> Result<ExitCode> {
    let mut config = Config::new(a.groups.clone(), format_of(a)?, a.auth.endpoint(&a.to)?);
    config.interface = a.interface;
    config.recv_buffer = a.recv_buffer;
    config.batch_max = a.batch;
    config.flush_interval = Duration::from_millis(a.flush_ms);
    config.max_pending = a.max_pending;
    config.dedup_window = a.dedup_window;
    config.drain_timeout = Duration::from_secs(a.drain_secs);
    let stop = crate::ui::stop_flag();
    let collector = Collector::start(config).context("start the collector")?;
    let listening: Vec<String> = collector.local_addrs().iter().map(ToString::to_string).collect();
    eprintln!(
        "collect: listening on {} (interface {}), storing into {}",
        listening.join(", "),
        a.interface,
        a.to
    );
    let granted = collector.recv_buffer();
    eprintln!("collect: receive buffer {granted} bytes (asked {})", a.recv_buffer);
    if granted < a.recv_buffer {
        eprintln!(
            "collect: the kernel granted less than asked (net.core.rmem_max); bursts may overflow it, and the drops are counted"
        );
    }
    let started = Instant::now();
    let mut last_status = Instant::now();
    let mut prev = Stats::default();
    while !stop.load(Ordering::SeqCst) && !collector.has_failed() {
        std::thread::sleep(Duration::from_millis(100));
        collector.events().for_each(|e| log_event(&e));
        if a.status_every > 0 && last_status.elapsed() >= Duration::from_secs(a.status_every) {
            let s = collector.stats();
            eprintln!("collect: {}", status(&s, &prev, last_status.elapsed().as_secs_f64()));
            prev = s;
            last_status = Instant::now();
        }
    }
    let before = collector.stats();
    collector.events().for_each(|e| log_event(&e));
    eprintln!("collect: stopping; storing what was received");
    let summary = collector.stop().context("collector")?;
    let mut s = summary.stats;
    // The sockets are closed now; their last kernel counters were read
    // just before.
    s.kernel = s.kernel.or(before.kernel);
    eprintln!(
        "collect: done after {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        status(&s, &Stats::default(), started.elapsed().as_secs_f64())
    );
    if summary.unacknowledged > 0 {
        eprintln!(
            "collect: {} readings were received but never acknowledged (server unreachable)",
            summary.unacknowledged
        );
        return Ok(crate::ui::error_exit());
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_rate(s: &str) -> Result<Option<u64>> {
    if s.eq_ignore_ascii_case("max") {
        return Ok(None);
    }
    let r: u64 = s.parse().with_context(|| format!("rate {s:?} is not a number or \"max\""))?;
    if r == 0 {
        bail!("rate must be above 0");
    }
    Ok(Some(r))
}

fn seq_format(f: FormatArg) -> SeqFormat {
    match f {
        FormatArg::Ibutton => SeqFormat::Ibutton,
        FormatArg::Influx => SeqFormat::Influx,
    }
}

fn run_send(a: &SendArgs) -> Result<ExitCode> {
    let rate = parse_rate(&a.rate)?;
    let sock = collect::socket::sender_socket(a.group, a.interface, a.ttl)
        .with_context(|| format!("socket to {}", a.group))?;
    let seq = Sequence { format: seq_format(a.format), run: a.run.clone(), sensors: a.sensors };
    let stop = crate::ui::stop_flag();
    let sent = send(&sock, &seq, a.first, a.count, rate, Duration::MAX, &stop)?;
    eprintln!(
        "send: {} datagrams to {} in {:.2} s ({:.0}/s), {} failed sends; sequence {}..{}",
        sent.sent,
        a.group,
        sent.elapsed.as_secs_f64(),
        sent.sent as f64 / sent.elapsed.as_secs_f64().max(1e-9),
        sent.errors,
        a.first,
        a.first + sent.sent
    );
    Ok(ExitCode::SUCCESS)
}

fn rate_name(r: Option<u64>) -> String {
    r.map_or_else(|| "max".to_owned(), |r| format!("{r}/s"))
}

fn run_bench(a: &BenchArgs) -> Result<ExitCode> {
    let rates = a.rates.iter().map(|r| parse_rate(r)).collect::<Result<Vec<_>>>()?;
    let server = a.auth.endpoint(&a.to)?;
    // Fail early, with a clear message, when the server is not there.
    let bare = crate::auth::split_scheme(&a.to).0;
    bare.to_socket_addrs().with_context(|| format!("resolve {bare}"))?;
    server.connect().with_context(|| format!("connect to {}", a.to))?;
    let influx = match (a.influx_udp, a.influx_http) {
        (Some(udp), Some(http)) => Some(InfluxPeer { udp, http, database: a.influx_db.clone() }),
        _ => None,
    };
    let opts = BenchOptions {
        server,
        group: a.group,
        interface: a.interface,
        rates: rates.clone(),
        seconds: a.seconds,
        rounds: a.rounds,
        format: seq_format(a.format),
        sensors: 64,
        batch_max: a.batch,
        recv_buffer: a.recv_buffer,
        influx: influx.clone(),
        settle_timeout: Duration::from_secs_f64(a.seconds + 60.0),
    };
    println!(
        "collect bench: {} s per round, {} rounds per rate, alternating systems; server {}{}",
        a.seconds,
        a.rounds,
        a.to,
        influx
            .as_ref()
            .map_or_else(String::new, |p| format!("; influxdb udp {} http {}", p.udp, p.http))
    );
    let rounds = collect::bench::run(&opts, &mut |r: &Round| {
        println!(
            "  {:<8} {:>9} round {}: sent {:>8} in {:5.2} s, stored {:>8} in {:5.2} s = {:>9.0}/s, loss {:.4}%{}",
            r.system,
            rate_name(r.rate),
            r.round,
            r.sent,
            r.send_secs,
            r.stored,
            r.store_secs,
            r.stored_rate(),
            r.loss() * 100.0,
            r.kernel_drops.map_or_else(String::new, |d| format!(", kernel drops {d}")),
        );
    })?;
    println!("medians:");
    println!("  {:<8} {:>9} {:>12} {:>12} {:>10}", "system", "rate", "sent/s", "stored/s", "loss");
    for rate in &rates {
        for system in ["mammoth", "influxdb"] {
            let rs: Vec<&Round> =
                rounds.iter().filter(|r| r.system == system && r.rate == *rate).collect();
            if rs.is_empty() {
                continue;
            }
            let sent_rate = median(
                &mut rs.iter().map(|r| r.sent as f64 / r.send_secs.max(1e-9)).collect::<Vec<_>>(),
            );
            let stored = median(&mut rs.iter().map(|r| r.stored_rate()).collect::<Vec<_>>());
            let loss = median(&mut rs.iter().map(|r| r.loss()).collect::<Vec<_>>());
            println!(
                "  {system:<8} {:>9} {sent_rate:>12.0} {stored:>12.0} {:>9.4}%",
                rate_name(*rate),
                loss * 100.0
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+00:00").unwrap(), 0);
        assert_eq!(parse_offset("-07:00").unwrap(), -25_200);
        assert_eq!(parse_offset("+05:45").unwrap(), 20_700);
        for bad in ["", "7", "+7", "+24:00", "+01:60", "01:00", "+a:00"] {
            assert!(parse_offset(bad).is_err(), "{bad}");
        }
    }
}
