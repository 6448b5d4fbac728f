//! Errors: [`ParseError`] for one bad line (counted, logged, never fatal)
//! and [`Error`] for what stops a collector.

use std::fmt;
use std::net::SocketAddr;

use crate::time::TimeError;

/// Why a line is not a reading, and where (a 1-based byte column).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseError {
    /// 1-based byte column in the line where the problem was noticed.
    pub column: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

/// What is wrong with a line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The line is not UTF-8.
    NotUtf8,
    /// A required part is missing (`"serial"`, `"reading"`, `"fields"`, …).
    Missing(&'static str),
    /// The time is not a calendar time of the accepted shapes.
    TimeSyntax,
    /// A date or time part (or zone offset) is out of range.
    TimeRange,
    /// The time falls outside the years 0000–9999.
    TimeYear,
    /// The serial is empty, too long, or has whitespace, a control
    /// character or `/`.
    Serial,
    /// The reading is not a finite number.
    Reading,
    /// An extra field is not `name=value`, or its name is empty.
    Extra,
    /// Two fields would get the same JSON name, or a field is named `ts`,
    /// `serial` or `reading` where that name is taken.
    DuplicateName(String),
    /// Line protocol: the measurement is empty.
    Measurement,
    /// Line protocol: a tag is not `key=value` with both non-empty.
    Tag,
    /// Line protocol: a field is not `key=value`, or its key is empty.
    Field,
    /// Line protocol: a field value is not a float, integer, unsigned,
    /// string or boolean (or a float is not finite).
    FieldValue,
    /// Line protocol: a string field has no closing quote.
    UnterminatedString,
    /// Line protocol: the timestamp is not an integer in range.
    Timestamp,
    /// Something follows the last part.
    Trailing,
}

impl ParseError {
    pub(crate) fn new(column: usize, kind: ParseErrorKind) -> ParseError {
        ParseError { column, kind }
    }

    pub(crate) fn time(column: usize, e: TimeError) -> ParseError {
        let kind = match e {
            TimeError::Syntax => ParseErrorKind::TimeSyntax,
            TimeError::Range => ParseErrorKind::TimeRange,
            TimeError::Year => ParseErrorKind::TimeYear,
        };
        ParseError { column, kind }
    }
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseErrorKind::NotUtf8 => f.write_str("not UTF-8"),
            ParseErrorKind::Missing(what) => write!(f, "no {what}"),
            ParseErrorKind::TimeSyntax => {
                f.write_str("time is not YYYY/MM/DD HH:MM:SS[.f] or ISO 8601")
            }
            ParseErrorKind::TimeRange => f.write_str("time has a part out of range"),
            ParseErrorKind::TimeYear => f.write_str("time is outside the years 0000-9999"),
            ParseErrorKind::Serial => f.write_str(
                "serial is empty, over 128 bytes, or has whitespace, a control character or '/'",
            ),
            ParseErrorKind::Reading => f.write_str("reading is not a finite number"),
            ParseErrorKind::Extra => f.write_str("extra field is not name=value"),
            ParseErrorKind::DuplicateName(n) => write!(f, "field name {n:?} is used twice"),
            ParseErrorKind::Measurement => f.write_str("empty measurement"),
            ParseErrorKind::Tag => f.write_str("tag is not key=value"),
            ParseErrorKind::Field => f.write_str("field is not key=value"),
            ParseErrorKind::FieldValue => f.write_str("field value has no valid type"),
            ParseErrorKind::UnterminatedString => f.write_str("string field is not closed"),
            ParseErrorKind::Timestamp => f.write_str("timestamp is not an integer in range"),
            ParseErrorKind::Trailing => f.write_str("unexpected text after the line's end"),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.kind)
    }
}

impl std::error::Error for ParseError {}

/// Why a collector could not start, or stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot work (no group, an IPv6 group, a zero
    /// batch size, …).
    Config(String),
    /// Creating, configuring, binding or joining a receive socket failed.
    Socket {
        /// The step (`"bind"`, `"join"`, `"set SO_RCVBUF"`, …).
        what: &'static str,
        /// The group or address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// A thread could not be started.
    Thread(std::io::Error),
    /// The server refused us in a way retrying cannot fix (say, bad SASL
    /// credentials).
    Server(tap::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(what) => write!(f, "configuration: {what}"),
            Error::Socket { what, addr, .. } => write!(f, "{what} {addr}"),
            Error::Thread(_) => f.write_str("start a thread"),
            Error::Server(_) => f.write_str("server refused the collector"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Config(_) => None,
            Error::Socket { source, .. } | Error::Thread(source) => Some(source),
            Error::Server(e) => Some(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn display_does_not_repeat_the_source() {
        let e = Error::Socket {
            what: "join",
            addr: "225.0.0.37:6789".parse().unwrap(),
            source: std::io::Error::other("no such device"),
        };
        assert_eq!(e.to_string(), "join 225.0.0.37:6789");
        assert_eq!(e.source().unwrap().to_string(), "no such device");
        let p = ParseError::new(7, ParseErrorKind::Missing("serial"));
        assert_eq!(p.to_string(), "column 7: no serial");
    }
}
