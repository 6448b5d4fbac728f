//! Sequence-numbered test datagrams, for `mammoth collect send`, the
//! benchmark and the tests: datagram `n` is a reading whose time is
//! 2024-01-01T00:00:00Z plus `n` microseconds, from sensor `n % sensors`,
//! so every `n` has its own key and loss is counted exactly.

// Pacing arithmetic: rates and counts far below 2^52.
#![allow(clippy::cast_precision_loss)]

use std::io;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::reading::READING_PREFIX;
use crate::time::Timestamp;

/// 2024-01-01T00:00:00Z.
const BASE_SECS: i64 = 1_704_067_200;

/// The format test datagrams are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqFormat {
    /// `YYYY/MM/DD HH:MM:SS.ffffff<TAB>serial<TAB>reading<TAB>seq=N`.
    Ibutton,
    /// `bench,serial=S,run=R reading=V,seq=Ni TIMESTAMP_NS`.
    Influx,
}

/// A numbered sequence of readings.
#[derive(Clone, Debug)]
pub struct Sequence {
    /// Format of the datagrams.
    pub format: SeqFormat,
    /// Serial prefix naming this run (hex digits and letters; keeps runs
    /// apart in one store).
    pub run: String,
    /// Sensors the readings rotate over (at least 1).
    pub sensors: u32,
}

impl Sequence {
    /// Reading `n`'s time.
    pub fn time(&self, n: u64) -> Timestamp {
        let secs = BASE_SECS + (n / 1_000_000) as i64;
        Timestamp::from_unix(secs, (n % 1_000_000) as u32 * 1000).unwrap_or(Timestamp::EPOCH)
    }

    /// Reading `n`'s serial.
    pub fn serial(&self, n: u64) -> String {
        format!("{}{:04X}", self.run, n % u64::from(self.sensors.max(1)))
    }

    /// Reading `n`'s value.
    pub fn value(n: u64) -> f64 {
        f64::from((n % 4000) as u32) / 100.0 - 10.0
    }

    /// The key reading `n` is stored under.
    pub fn key(&self, n: u64) -> String {
        let mut k = String::from(READING_PREFIX);
        self.time(n).write_iso(&mut k);
        k.push('_');
        k.push_str(&self.serial(n));
        k
    }

    /// Writes datagram `n` into `out` (cleared first).
    pub fn datagram(&self, n: u64, out: &mut Vec<u8>) {
        use std::io::Write as _;
        out.clear();
        let t = self.time(n);
        let v = Sequence::value(n);
        // Writing into a Vec cannot fail.
        let _ = match self.format {
            SeqFormat::Ibutton => {
                let iso = t.to_string();
                let date = iso.get(..10).unwrap_or_default().replace('-', "/");
                let clock = iso.get(11..26).unwrap_or_default();
                write!(out, "{date} {clock}\t{}\t{v:.2}\tseq={n}", self.serial(n))
            }
            SeqFormat::Influx => {
                let ns = i128::from(t.unix_secs()) * 1_000_000_000 + i128::from(t.subsec_nanos());
                write!(
                    out,
                    "bench,serial={},run={} reading={v:.2},seq={n}i {ns}",
                    self.serial(n),
                    self.run
                )
            }
        };
    }
}

/// What [`send`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sent {
    /// Datagrams handed to the kernel.
    pub sent: u64,
    /// Sends that failed (not counted in `sent`).
    pub errors: u64,
    /// From the first send to the last.
    pub elapsed: Duration,
}

/// Sends datagrams `first..` of `seq` on `socket` (connected to the
/// destination) at `rate` a second (`None`: as fast as the socket takes
/// them) until `count` are sent, `max_time` has passed, or `stop` is set.
///
/// # Errors
/// None so far: failed sends are counted in [`Sent::errors`]; the
/// `io::Result` is kept for senders that can fail as a whole.
pub fn send(
    socket: &UdpSocket,
    seq: &Sequence,
    first: u64,
    count: u64,
    rate: Option<u64>,
    max_time: Duration,
    stop: &AtomicBool,
) -> io::Result<Sent> {
    let mut buf = Vec::with_capacity(256);
    let start = Instant::now();
    let mut out = Sent::default();
    let mut n = 0u64;
    while n < count {
        if n.is_multiple_of(256) && (stop.load(Ordering::Relaxed) || start.elapsed() >= max_time) {
            break;
        }
        if let Some(rate) = rate.filter(|r| *r > 0) {
            // Datagram n is due at n / rate seconds.
            let due = Duration::from_secs_f64(n as f64 / rate as f64);
            if let Some(ahead) = due.checked_sub(start.elapsed()).filter(|d| !d.is_zero()) {
                // Sleep rather than spin (a spinning sender would take a
                // core from the receiver it is testing): at high rates
                // this sends in bursts of about a millisecond's worth.
                std::thread::sleep(
                    ahead.clamp(Duration::from_micros(500), Duration::from_millis(5)),
                );
                continue;
            }
        }
        seq.datagram(first + n, &mut buf);
        match socket.send(&buf) {
            Ok(_) => out.sent += 1,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => out.errors += 1,
        }
        n += 1;
    }
    out.elapsed = start.elapsed();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{Format, Line};

    #[test]
    fn datagrams_parse_to_their_keys() {
        for (format, f) in [
            (SeqFormat::Ibutton, Format::Ibutton(crate::IbuttonOptions::default())),
            (SeqFormat::Influx, Format::Influx(crate::InfluxOptions::default())),
        ] {
            let seq = Sequence { format, run: "R1".into(), sensors: 16 };
            let mut buf = Vec::new();
            for n in [0, 1, 999_999, 1_000_000, 123_456_789] {
                seq.datagram(n, &mut buf);
                let mut got = None;
                f.each_line(&buf, Timestamp::EPOCH, |l| match l {
                    Line::Reading(r) => got = Some(r),
                    Line::Malformed(e, _) => panic!("{e}: {}", String::from_utf8_lossy(&buf)),
                });
                let r = got.unwrap();
                assert_eq!(r.key(), seq.key(n));
                assert!(r.extra.iter().any(|(k, _)| k == "seq"));
            }
        }
        let seq = Sequence { format: SeqFormat::Ibutton, run: "R1".into(), sensors: 16 };
        assert_eq!(seq.key(1_000_017), "reading/2024-01-01T00:00:01.000017000Z_R10001");
    }
}
