//! Hadoop `Writable` serializations.
//!
//! A SequenceFile stores each key and value as the bytes its Writable's
//! `write(DataOutput)` produced. [`Writable`] maps a Rust type to one Java
//! class; [`Datum`] decodes any known class at run time (the CLI uses it), and
//! classes this crate does not know stay raw bytes with their class name kept
//! in the header.
//!
//! ```
//! use seqfile::writable::{Text, Writable, LongWritable};
//! let mut buf = Vec::new();
//! Text::from("héllo").write_to(&mut buf);
//! assert_eq!(buf, b"\x06h\xc3\xa9llo");
//! let n = LongWritable::read_from(&bytes::Bytes::from_static(&[0, 0, 0, 0, 0, 0, 1, 0])).unwrap();
//! assert_eq!(n, LongWritable(256));
//! ```

use std::fmt;

use bytes::Bytes;

use crate::error::{Error, ErrorKind, Result};
use crate::vint;

/// A Rust type with a Hadoop Writable serialization.
pub trait Writable: Sized {
    /// The Java class name written in SequenceFile headers.
    const CLASS_NAME: &'static str;

    /// Appends the serialized form to `out`.
    fn write_to(&self, out: &mut Vec<u8>);

    /// Decodes a value that must occupy all of `bytes`. Byte-string types
    /// share `bytes` rather than copying them.
    ///
    /// # Errors
    ///
    /// `BadWritable` when the bytes are too short, too long or malformed.
    fn read_from(bytes: &Bytes) -> Result<Self>;
}

fn bad(class: &'static str, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::BadWritable { class, message: message.into() })
}

fn fixed<const N: usize>(class: &'static str, bytes: &[u8]) -> Result<[u8; N]> {
    <[u8; N]>::try_from(bytes)
        .map_err(|_| bad(class, format!("expected {N} bytes, found {}", bytes.len())))
}

/// `org.apache.hadoop.io.Text`: a VInt length then bytes, usually UTF-8.
///
/// Hadoop never validates Text on read, so this is bytes, not `String`.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(pub Bytes);

impl Text {
    /// The payload bytes (without the length prefix).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The payload of serialized Text bytes, borrowed: the zero-allocation
    /// counterpart of [`Writable::read_from`] for use with
    /// [`Reader::next_ref`](crate::Reader::next_ref).
    ///
    /// # Errors
    ///
    /// `BadWritable` when the length prefix does not match the bytes.
    pub fn payload(bytes: &[u8]) -> Result<&[u8]> {
        let (len, n) = vint::read_vint(bytes).map_err(|e| bad(Self::CLASS_NAME, e.to_string()))?;
        match usize::try_from(len) {
            Ok(len) if n + len == bytes.len() => Ok(&bytes[n..]),
            _ => Err(bad(
                Self::CLASS_NAME,
                format!("length prefix says {len} bytes, {} follow", bytes.len() - n),
            )),
        }
    }

    /// The text, with malformed UTF-8 replaced by U+FFFD.
    pub fn to_string_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(Bytes::from(s.into_bytes()))
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Text({:?})", self.to_string_lossy())
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

impl Writable for Text {
    const CLASS_NAME: &'static str = "org.apache.hadoop.io.Text";

    fn write_to(&self, out: &mut Vec<u8>) {
        vint::write_vint(out, self.0.len() as i32);
        out.extend_from_slice(&self.0);
    }

    fn read_from(bytes: &Bytes) -> Result<Self> {
        let start = bytes.len() - Text::payload(bytes)?.len();
        Ok(Text(bytes.slice(start..)))
    }
}

/// `org.apache.hadoop.io.BytesWritable`: an `i32` length then bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BytesWritable(pub Bytes);

impl Writable for BytesWritable {
    const CLASS_NAME: &'static str = "org.apache.hadoop.io.BytesWritable";

    fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.0.len() as i32).to_be_bytes());
        out.extend_from_slice(&self.0);
    }

    fn read_from(bytes: &Bytes) -> Result<Self> {
        let Some(prefix) = bytes.get(..4) else {
            return Err(bad(
                Self::CLASS_NAME,
                format!("{} bytes, shorter than the length prefix", bytes.len()),
            ));
        };
        let len = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        if i64::from(len) != bytes.len() as i64 - 4 {
            return Err(bad(
                Self::CLASS_NAME,
                format!("length prefix says {len} bytes, {} follow", bytes.len() - 4),
            ));
        }
        Ok(BytesWritable(bytes.slice(4..)))
    }
}

/// `org.apache.hadoop.io.NullWritable`: no bytes at all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NullWritable;

impl Writable for NullWritable {
    const CLASS_NAME: &'static str = "org.apache.hadoop.io.NullWritable";

    fn write_to(&self, _out: &mut Vec<u8>) {}

    fn read_from(bytes: &Bytes) -> Result<Self> {
        if bytes.is_empty() {
            Ok(NullWritable)
        } else {
            Err(bad(Self::CLASS_NAME, format!("expected 0 bytes, found {}", bytes.len())))
        }
    }
}

macro_rules! fixed_writable {
    ($(#[$doc:meta])* $name:ident($ty:ty), $class:literal, $n:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
        pub struct $name(pub $ty);

        impl Writable for $name {
            const CLASS_NAME: &'static str = $class;

            fn write_to(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.0.to_be_bytes());
            }

            fn read_from(bytes: &Bytes) -> Result<Self> {
                Ok($name(<$ty>::from_be_bytes(fixed::<$n>(Self::CLASS_NAME, bytes)?)))
            }
        }
    };
}

fixed_writable!(
    /// `org.apache.hadoop.io.IntWritable`: a big-endian `i32`.
    IntWritable(i32), "org.apache.hadoop.io.IntWritable", 4);
fixed_writable!(
    /// `org.apache.hadoop.io.LongWritable`: a big-endian `i64`.
    LongWritable(i64), "org.apache.hadoop.io.LongWritable", 8);
fixed_writable!(
    /// `org.apache.hadoop.io.ShortWritable`: a big-endian `i16`.
    ShortWritable(i16), "org.apache.hadoop.io.ShortWritable", 2);
fixed_writable!(
    /// `org.apache.hadoop.io.ByteWritable`: one signed byte.
    ByteWritable(i8), "org.apache.hadoop.io.ByteWritable", 1);
fixed_writable!(
    /// `org.apache.hadoop.io.FloatWritable`: IEEE-754 `f32`, big-endian.
    FloatWritable(f32), "org.apache.hadoop.io.FloatWritable", 4);
fixed_writable!(
    /// `org.apache.hadoop.io.DoubleWritable`: IEEE-754 `f64`, big-endian.
    DoubleWritable(f64), "org.apache.hadoop.io.DoubleWritable", 8);

/// `org.apache.hadoop.io.BooleanWritable`: one byte, non-zero is true.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BooleanWritable(pub bool);

impl Writable for BooleanWritable {
    const CLASS_NAME: &'static str = "org.apache.hadoop.io.BooleanWritable";

    fn write_to(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.0));
    }

    fn read_from(bytes: &Bytes) -> Result<Self> {
        Ok(BooleanWritable(fixed::<1>(Self::CLASS_NAME, bytes)?[0] != 0))
    }
}

/// `org.apache.hadoop.io.VIntWritable`: a VInt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VIntWritable(pub i32);

impl Writable for VIntWritable {
    const CLASS_NAME: &'static str = "org.apache.hadoop.io.VIntWritable";

    fn write_to(&self, out: &mut Vec<u8>) {
        vint::write_vint(out, self.0);
    }

    fn read_from(bytes: &Bytes) -> Result<Self> {
        let (v, n) = vint::read_vint(bytes).map_err(|e| bad(Self::CLASS_NAME, e.to_string()))?;
        if n != bytes.len() {
            return Err(bad(Self::CLASS_NAME, format!("{} trailing bytes", bytes.len() - n)));
        }
        Ok(VIntWritable(v))
    }
}

/// `org.apache.hadoop.io.VLongWritable`: a VLong.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VLongWritable(pub i64);

impl Writable for VLongWritable {
    const CLASS_NAME: &'static str = "org.apache.hadoop.io.VLongWritable";

    fn write_to(&self, out: &mut Vec<u8>) {
        vint::write_vlong(out, self.0);
    }

    fn read_from(bytes: &Bytes) -> Result<Self> {
        let (v, n) = vint::read_vlong(bytes).map_err(|e| bad(Self::CLASS_NAME, e.to_string()))?;
        if n != bytes.len() {
            return Err(bad(Self::CLASS_NAME, format!("{} trailing bytes", bytes.len() - n)));
        }
        Ok(VLongWritable(v))
    }
}

/// The classes this crate can decode at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// `Text`
    Text,
    /// `BytesWritable`
    Bytes,
    /// `IntWritable`
    Int,
    /// `LongWritable`
    Long,
    /// `NullWritable`
    Null,
    /// `BooleanWritable`
    Boolean,
    /// `ByteWritable`
    Byte,
    /// `ShortWritable`
    Short,
    /// `FloatWritable`
    Float,
    /// `DoubleWritable`
    Double,
    /// `VIntWritable`
    VInt,
    /// `VLongWritable`
    VLong,
    /// `MD5Hash`: 16 raw bytes.
    Md5,
}

impl Class {
    /// Every known class.
    pub const ALL: [Class; 13] = [
        Class::Text,
        Class::Bytes,
        Class::Int,
        Class::Long,
        Class::Null,
        Class::Boolean,
        Class::Byte,
        Class::Short,
        Class::Float,
        Class::Double,
        Class::VInt,
        Class::VLong,
        Class::Md5,
    ];

    /// The full Java class name.
    pub fn java_name(self) -> &'static str {
        match self {
            Class::Text => Text::CLASS_NAME,
            Class::Bytes => BytesWritable::CLASS_NAME,
            Class::Int => IntWritable::CLASS_NAME,
            Class::Long => LongWritable::CLASS_NAME,
            Class::Null => NullWritable::CLASS_NAME,
            Class::Boolean => BooleanWritable::CLASS_NAME,
            Class::Byte => ByteWritable::CLASS_NAME,
            Class::Short => ShortWritable::CLASS_NAME,
            Class::Float => FloatWritable::CLASS_NAME,
            Class::Double => DoubleWritable::CLASS_NAME,
            Class::VInt => VIntWritable::CLASS_NAME,
            Class::VLong => VLongWritable::CLASS_NAME,
            Class::Md5 => "org.apache.hadoop.io.MD5Hash",
        }
    }

    /// Resolves a header class name, including Hadoop's `WritableName`
    /// aliases (`null`, `long`, `MD5Hash`).
    pub fn from_java_name(name: &str) -> Option<Class> {
        match name {
            "null" => return Some(Class::Null),
            "long" => return Some(Class::Long),
            "MD5Hash" => return Some(Class::Md5),
            _ => {}
        }
        Class::ALL.into_iter().find(|c| c.java_name() == name)
    }

    /// Resolves a short name as the CLI accepts it (`Text`, `LongWritable`,
    /// `long`, …) or a full Java name.
    pub fn from_short_name(name: &str) -> Option<Class> {
        let short = name.strip_prefix("org.apache.hadoop.io.").unwrap_or(name);
        Class::from_java_name(name).or_else(|| {
            Class::ALL.into_iter().find(|c| {
                let java_short = c.java_name().rsplit('.').next().unwrap_or_default();
                java_short.eq_ignore_ascii_case(short)
                    || java_short
                        .strip_suffix("Writable")
                        .is_some_and(|s| s.eq_ignore_ascii_case(short))
            })
        })
    }
}

/// A decoded value of any [`Class`].
#[derive(Clone, Debug, PartialEq)]
pub enum Datum {
    /// Text payload (no length prefix).
    Text(Bytes),
    /// BytesWritable payload (no length prefix).
    Bytes(Bytes),
    /// IntWritable.
    Int(i32),
    /// LongWritable.
    Long(i64),
    /// NullWritable.
    Null,
    /// BooleanWritable.
    Boolean(bool),
    /// ByteWritable.
    Byte(i8),
    /// ShortWritable.
    Short(i16),
    /// FloatWritable.
    Float(f32),
    /// DoubleWritable.
    Double(f64),
    /// VIntWritable.
    VInt(i32),
    /// VLongWritable.
    VLong(i64),
    /// MD5Hash.
    Md5([u8; 16]),
}

impl Datum {
    /// Decodes serialized bytes of `class`.
    ///
    /// # Errors
    ///
    /// `BadWritable` when the bytes do not have that class's shape.
    pub fn decode(class: Class, bytes: &Bytes) -> Result<Datum> {
        Ok(match class {
            Class::Text => Datum::Text(Text::read_from(bytes)?.0),
            Class::Bytes => Datum::Bytes(BytesWritable::read_from(bytes)?.0),
            Class::Int => Datum::Int(IntWritable::read_from(bytes)?.0),
            Class::Long => Datum::Long(LongWritable::read_from(bytes)?.0),
            Class::Null => {
                NullWritable::read_from(bytes)?;
                Datum::Null
            }
            Class::Boolean => Datum::Boolean(BooleanWritable::read_from(bytes)?.0),
            Class::Byte => Datum::Byte(ByteWritable::read_from(bytes)?.0),
            Class::Short => Datum::Short(ShortWritable::read_from(bytes)?.0),
            Class::Float => Datum::Float(FloatWritable::read_from(bytes)?.0),
            Class::Double => Datum::Double(DoubleWritable::read_from(bytes)?.0),
            Class::VInt => Datum::VInt(VIntWritable::read_from(bytes)?.0),
            Class::VLong => Datum::VLong(VLongWritable::read_from(bytes)?.0),
            Class::Md5 => Datum::Md5(fixed::<16>("org.apache.hadoop.io.MD5Hash", bytes)?),
        })
    }

    /// Appends the serialized form.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Datum::Text(b) => Text(b.clone()).write_to(out),
            Datum::Bytes(b) => BytesWritable(b.clone()).write_to(out),
            Datum::Int(v) => IntWritable(*v).write_to(out),
            Datum::Long(v) => LongWritable(*v).write_to(out),
            Datum::Null => {}
            Datum::Boolean(v) => BooleanWritable(*v).write_to(out),
            Datum::Byte(v) => ByteWritable(*v).write_to(out),
            Datum::Short(v) => ShortWritable(*v).write_to(out),
            Datum::Float(v) => FloatWritable(*v).write_to(out),
            Datum::Double(v) => DoubleWritable(*v).write_to(out),
            Datum::VInt(v) => VIntWritable(*v).write_to(out),
            Datum::VLong(v) => VLongWritable(*v).write_to(out),
            Datum::Md5(v) => out.extend_from_slice(v),
        }
    }

    /// Parses the text form `Display` prints (bytes as hex) for `class`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` naming the class when the text does not parse.
    pub fn parse(class: Class, s: &str) -> Result<Datum> {
        fn num<T: std::str::FromStr>(class: Class, s: &str) -> Result<T> {
            s.trim()
                .parse()
                .map_err(|_| Error::invalid(format!("{s:?} is not a valid {}", class.java_name())))
        }
        Ok(match class {
            Class::Text => Datum::Text(Bytes::copy_from_slice(s.as_bytes())),
            Class::Bytes => Datum::Bytes(Bytes::from(parse_hex(s)?)),
            Class::Int => Datum::Int(num(class, s)?),
            Class::Long => Datum::Long(num(class, s)?),
            Class::Null => Datum::Null,
            Class::Boolean => Datum::Boolean(num(class, s)?),
            Class::Byte => Datum::Byte(num(class, s)?),
            Class::Short => Datum::Short(num(class, s)?),
            Class::Float => Datum::Float(num(class, s)?),
            Class::Double => Datum::Double(num(class, s)?),
            Class::VInt => Datum::VInt(num(class, s)?),
            Class::VLong => Datum::VLong(num(class, s)?),
            Class::Md5 => {
                let v = parse_hex(s)?;
                Datum::Md5(
                    <[u8; 16]>::try_from(v.as_slice())
                        .map_err(|_| Error::invalid("MD5Hash needs 32 hex digits"))?,
                )
            }
        })
    }
}

impl fmt::Display for Datum {
    /// Text as text, byte strings as lowercase hex, numbers in decimal, null as empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Datum::Text(b) => f.write_str(&String::from_utf8_lossy(b)),
            Datum::Bytes(b) => write_hex(f, b),
            Datum::Md5(b) => write_hex(f, b),
            Datum::Int(v) | Datum::VInt(v) => write!(f, "{v}"),
            Datum::Long(v) | Datum::VLong(v) => write!(f, "{v}"),
            Datum::Null => Ok(()),
            Datum::Boolean(v) => write!(f, "{v}"),
            Datum::Byte(v) => write!(f, "{v}"),
            Datum::Short(v) => write!(f, "{v}"),
            Datum::Float(v) => write!(f, "{v}"),
            Datum::Double(v) => write!(f, "{v}"),
        }
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, b: &[u8]) -> fmt::Result {
    f.write_str(&hex::encode(b))
}

/// Decodes lowercase or uppercase hex (surrounding white space ignored).
pub(crate) fn parse_hex(s: &str) -> Result<Vec<u8>> {
    hex::decode(s.trim()).map_err(|e| Error::invalid(format!("bad hex {:?}: {e}", s.trim())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ser<W: Writable>(w: &W) -> Vec<u8> {
        let mut v = Vec::new();
        w.write_to(&mut v);
        v
    }

    #[test]
    fn spec_examples() {
        assert_eq!(ser(&Text::from("")), [0]);
        assert_eq!(ser(&Text::from("😀")), [4, 0xf0, 0x9f, 0x98, 0x80]);
        let long = "x".repeat(200);
        let mut want = vec![0x8f, 0xc8];
        want.extend(long.as_bytes());
        assert_eq!(ser(&Text::from(long.as_str())), want);
        assert_eq!(
            ser(&BytesWritable(Bytes::from_static(&[1, 2, 0xff]))),
            [0, 0, 0, 3, 1, 2, 0xff]
        );
        assert_eq!(ser(&IntWritable(-2)), [0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(ser(&FloatWritable(1.5)), [0x3f, 0xc0, 0, 0]);
        assert_eq!(ser(&VIntWritable(300)), [0x8e, 0x01, 0x2c]);
        assert_eq!(ser(&VLongWritable(-300)), [0x86, 0x01, 0x2b]);
    }

    #[test]
    fn exact_consumption_is_required() {
        assert!(Text::read_from(&Bytes::from_static(&[2, b'a'])).is_err());
        assert!(Text::read_from(&Bytes::from_static(&[1, b'a', b'b'])).is_err());
        assert!(BytesWritable::read_from(&Bytes::from_static(&[0, 0, 0, 2, 1])).is_err());
        assert!(BytesWritable::read_from(&Bytes::from_static(&[0xff, 0xff, 0xff, 0xff])).is_err());
        assert!(IntWritable::read_from(&Bytes::from_static(&[0, 0, 1])).is_err());
        assert!(NullWritable::read_from(&Bytes::from_static(&[0])).is_err());
        assert!(VIntWritable::read_from(&Bytes::from_static(&[1, 2])).is_err());
    }

    #[test]
    fn class_names_and_aliases() {
        for c in Class::ALL {
            assert_eq!(Class::from_java_name(c.java_name()), Some(c));
        }
        assert_eq!(Class::from_java_name("long"), Some(Class::Long));
        assert_eq!(Class::from_short_name("Text"), Some(Class::Text));
        assert_eq!(Class::from_short_name("LongWritable"), Some(Class::Long));
        assert_eq!(Class::from_short_name("bytes"), Some(Class::Bytes));
        assert_eq!(Class::from_short_name("com.example.Custom"), None);
    }

    #[test]
    fn datum_parse_display_round_trip() {
        for (class, s) in [
            (Class::Text, "héllo"),
            (Class::Bytes, "0102ff"),
            (Class::Long, "-5"),
            (Class::Double, "1.5"),
        ] {
            let d = Datum::parse(class, s).unwrap();
            assert_eq!(d.to_string(), s);
            let mut enc = Vec::new();
            d.encode(&mut enc);
            assert_eq!(Datum::decode(class, &Bytes::from(enc)).unwrap(), d);
        }
    }
}
