//! mammoth's sensor collector: readings that sensors multicast around a LAN
//! (the notebook's 1-wire thermometers send to group `225.0.0.37:6789`),
//! stored durably in a memcached-protocol server such as `mammoth serve`.
//!
//! # Design
//!
//! **Sockets.** Each group gets its own socket bound to the group address
//! (not `0.0.0.0`), joined on one interface, with `IP_MULTICAST_ALL` off:
//! two groups on one port never see each other's datagrams, the failure
//! Telegraf's listener has when both bind the wildcard. Each asks for an
//! 8 MiB `SO_RCVBUF` and reports what the kernel granted (Linux caps it at
//! `net.core.rmem_max`). The kernel's own drop counter for each socket is
//! read from `/proc/net/udp`, so datagrams lost before we could read them
//! are counted, not guessed.
//!
//! **Threads.** One receiver thread per group only copies datagrams, as
//! they are, into blocks (napping between bursts when traffic is heavy, so
//! it is not woken for every datagram) and hands the blocks to one encoder
//! thread. The encoder cuts them into lines and parses each in place
//! ([`ibutton`] or [`influx`]); a malformed line is counted and logged
//! (rate-limited) and never stops anything. When the server falls behind
//! (or is down), the blocks queue up to [`Config::max_pending`]
//! datagrams, then the receivers wait, the kernel buffer fills, and the
//! kernel's drops — which we read — show the loss: memory stays bounded.
//!
//! **Writes.** The encoder batches readings (up to [`Config::batch_max`],
//! or whatever arrived within [`Config::flush_interval`] of the batch's
//! first reading) and encodes each batch as one SETQ…NOOP pipeline, the
//! key and JSON of each reading written straight into its frames. Each
//! reading is stored under `reading/<iso-time>_<serial>` (one key per
//! sensor and instant, so the keys sort by time and a duplicated datagram
//! overwrites itself), and `sensor/<serial>/latest` is set to the newest
//! reading of each serial in the batch — only when it is newer than the
//! one written before. Keys seen within the last [`Config::dedup_window`]
//! readings are counted as duplicates and not sent again. One writer
//! thread sends the encoded pipelines through [`tap::Target`] (the client
//! `mammoth import` and `tap mirror` use), two in flight. A pipeline's
//! NOOP reply is its acknowledgement: on a mammoth server it comes after
//! the group commit that made the whole pipeline durable. If the
//! connection fails before it, the writer reconnects with backoff (50 ms
//! doubling to 2 s) and sends every pipeline still in flight again, in
//! order, as encoded; SET is idempotent, so nothing acknowledged is lost
//! and nothing is stored twice.
//!
//! **Stopping.** [`Collector::stop`] lets the receivers empty the kernel
//! queue (for at most a second if senders never pause), then the encoder
//! and the writer store everything received, retrying an
//! unreachable server for up to [`Config::drain_timeout`]; what it then
//! had to give up is reported as [`Summary::unacknowledged`].
//!
//! # Example
//!
//! Parsing a datagram of each format:
//!
//! ```
//! use collect::{Format, IbuttonOptions, InfluxOptions, Line, Timestamp, Value};
//!
//! let ibutton = Format::Ibutton(IbuttonOptions::default());
//! ibutton.each_line(b"2011/07/17 02:01:32.953335\t10E8C214000000E4\t18.93\n", Timestamp::now(), |line| {
//!     let Line::Reading(r) = line else { panic!("malformed") };
//!     assert_eq!(r.key(), "reading/2011-07-17T02:01:32.953335000Z_10E8C214000000E4");
//!     assert_eq!(
//!         r.to_json(),
//!         r#"{"ts":"2011-07-17T02:01:32.953335000Z","serial":"10E8C214000000E4","reading":18.93}"#
//!     );
//! });
//!
//! let influx = Format::Influx(InfluxOptions::default());
//! influx.each_line(b"temp,serial=10E8C214000000E4 reading=18.93,h=23 1310868092953335000", Timestamp::now(), |line| {
//!     let Line::Reading(r) = line else { panic!("malformed") };
//!     assert_eq!(r.value, Value::Float(18.93));
//!     assert_eq!(r.latest_key(), "sensor/10E8C214000000E4/latest");
//! });
//! ```
//!
//! Running a collector (what `mammoth collect` does):
//!
//! ```no_run
//! use collect::{Collector, Config, Format, IbuttonOptions};
//!
//! let config = Config::new(
//!     vec!["225.0.0.37:6789".parse()?],
//!     Format::Ibutton(IbuttonOptions::default()),
//!     tap::Endpoint::new("127.0.0.1:11211"),
//! );
//! let collector = Collector::start(config)?;
//! std::thread::sleep(std::time::Duration::from_secs(60));
//! for event in collector.events() {
//!     eprintln!("{event:?}");
//! }
//! let summary = collector.stop()?;
//! println!("stored {} readings", summary.stats.stored);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod bench;
pub mod collector;
pub mod error;
pub mod format;
pub mod ibutton;
pub mod influx;
pub mod reading;
pub mod send;
pub mod socket;
pub mod time;

pub use collector::{Collector, Config, Event, Stats, Summary};
pub use error::{Error, ParseError, ParseErrorKind};
pub use format::{Format, Line};
pub use ibutton::IbuttonOptions;
pub use influx::{InfluxOptions, Precision};
pub use reading::{Reading, Value};
pub use socket::KernelCounters;
pub use time::Timestamp;
