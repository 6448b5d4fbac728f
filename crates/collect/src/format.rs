//! [`Format`]: which parser reads a datagram, and how a datagram is cut
//! into lines.

use crate::error::ParseError;
use crate::ibutton::{self, IbuttonOptions};
use crate::influx::{self, InfluxOptions};
use crate::reading::Reading;
use crate::time::Timestamp;

/// The datagram format and its options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// The notebook's `time<TAB>serial<TAB>reading[<TAB>extras]` ([`ibutton`]).
    Ibutton(IbuttonOptions),
    /// `InfluxDB` line protocol ([`influx`]).
    Influx(InfluxOptions),
}

/// What one line of a datagram was.
#[derive(Debug)]
pub enum Line<'a> {
    /// A reading.
    Reading(Reading),
    /// A line that is not one, with its text (for the log).
    Malformed(ParseError, &'a [u8]),
}

impl Format {
    /// Parses every line of `datagram` in order: lines end at `\n` (a `\r`
    /// before it and trailing spaces and tabs are ignored); blank lines and
    /// lines starting with `#` are skipped. `received` is the arrival time
    /// (for line protocol points without a timestamp).
    pub fn each_line<'a>(
        &self,
        datagram: &'a [u8],
        received: Timestamp,
        mut each: impl FnMut(Line<'a>),
    ) {
        for raw in datagram.split(|&b| b == b'\n') {
            let line = trim_end(raw);
            let Some(&first) = line.first() else { continue };
            if first == b'#' || line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let parsed = match self {
                Format::Ibutton(o) => ibutton::parse_line(line, o),
                Format::Influx(o) => influx::parse_line(line, o, received),
            };
            each(match parsed {
                Ok(r) => Line::Reading(r),
                Err(e) => Line::Malformed(e, line),
            });
        }
    }
}

fn trim_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t' | b'\r'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_comments_and_terminators() {
        let f = Format::Influx(InfluxOptions::default());
        let d = b"# a comment\r\nm,serial=A v=1 1\r\n\n  \nbad\nm,serial=B v=2 2  \n";
        let mut got = Vec::new();
        f.each_line(d, Timestamp::EPOCH, |l| {
            got.push(match l {
                Line::Reading(r) => r.serial,
                Line::Malformed(e, text) => format!("{}: {e}", String::from_utf8_lossy(text)),
            });
        });
        assert_eq!(got, ["A", "bad: column 4: no fields", "B"]);
    }

    #[test]
    fn ibutton_datagram() {
        let f = Format::Ibutton(IbuttonOptions::default());
        let mut n = 0;
        f.each_line(
            b"2011/07/17 02:01:32.953335\t10E8C214000000E4\t18.93\n",
            Timestamp::EPOCH,
            |l| {
                assert!(matches!(l, Line::Reading(_)));
                n += 1;
            },
        );
        assert_eq!(n, 1);
    }
}
