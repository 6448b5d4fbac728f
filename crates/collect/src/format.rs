//! [`Format`]: which parser reads a datagram, and how a datagram is cut
//! into lines.

use crate::error::ParseError;
use crate::ibutton::{self, IbuttonOptions};
use crate::influx::{self, InfluxOptions};
use crate::reading::{ExtraRef, Reading, ReadingRef};
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
        let mut cols = Vec::new();
        for line in lines(datagram) {
            let mut extra = Vec::new();
            each(match self.parse_into(line, received, &mut extra, &mut cols) {
                Ok(r) => Line::Reading(r.into_reading(extra)),
                Err(e) => Line::Malformed(e, line),
            });
        }
    }

    /// Parses one line (as [`lines`] cuts them) without copying: see
    /// [`ibutton::parse_into`] and [`influx::parse_into`].
    pub(crate) fn parse_into<'a>(
        &self,
        line: &'a [u8],
        received: Timestamp,
        extra: &mut Vec<ExtraRef<'a>>,
        cols: &mut Vec<usize>,
    ) -> Result<ReadingRef<'a>, ParseError> {
        match self {
            Format::Ibutton(o) => ibutton::parse_into(line, *o, extra),
            Format::Influx(o) => influx::parse_into(line, o, received, extra, cols),
        }
    }
}

/// The lines of a datagram worth parsing: cut at `\n`, trailing spaces,
/// tabs and `\r` trimmed, blank lines and `#` comments skipped.
pub(crate) fn lines(datagram: &[u8]) -> impl Iterator<Item = &[u8]> {
    datagram.split(|&b| b == b'\n').map(trim_end).filter(|line| {
        line.first().is_some_and(|&first| first != b'#')
            && !line.iter().all(u8::is_ascii_whitespace)
    })
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
