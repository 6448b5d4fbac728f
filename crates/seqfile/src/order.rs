//! Key order: Hadoop's raw comparators, which decide MapFile order.
//!
//! Each compares two *serialized* keys without building objects, exactly as
//! the comparator Hadoop registers for the class does (spec §2). Text and
//! BytesWritable compare their payloads as unsigned bytes (a proper prefix
//! sorts first, lengths are not compared first); numbers compare signed;
//! floats use Java's total order. Classes without a raw comparator in Hadoop
//! (`VIntWritable`, `VLongWritable`) compare their decoded values. Unknown
//! classes compare their bytes, which is right for the many byte-string-like
//! Writables and is at least a consistent total order for the rest.
//!
//! Malformed keys never panic: they fall back to comparing bytes.
//!
//! ```
//! use seqfile::order::KeyOrder;
//! use std::cmp::Ordering;
//! let text = KeyOrder::for_class("org.apache.hadoop.io.Text");
//! // "ab" (02 61 62) sorts before "b" (01 62), although 02 > 01.
//! assert_eq!(text.compare(b"\x02ab", b"\x01b"), Ordering::Less);
//! let long = KeyOrder::for_class("org.apache.hadoop.io.LongWritable");
//! assert_eq!(long.compare(&(-1i64).to_be_bytes(), &1i64.to_be_bytes()), Ordering::Less);
//! ```

use std::cmp::Ordering;

use crate::vint;
use crate::writable::Class;

/// How keys of one class are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOrder {
    /// Skip the VInt length prefix, then unsigned bytes (Text).
    Text,
    /// Skip the 4-byte length, then unsigned bytes (BytesWritable).
    Bytes,
    /// Skip the 2-byte length, then unsigned bytes (the deprecated UTF8).
    Utf8,
    /// Signed big-endian integer of 1, 2, 4 or 8 bytes.
    Signed,
    /// `Float.compare` on a big-endian f32.
    Float,
    /// `Double.compare` on a big-endian f64.
    Double,
    /// Decoded VInt/VLong.
    VLong,
    /// Always equal (NullWritable).
    Null,
    /// Unsigned bytes of the whole serialized key (BooleanWritable, MD5Hash, unknown classes).
    Raw,
}

impl KeyOrder {
    /// The order Hadoop uses for keys of `class` (a Java class name).
    pub fn for_class(class: &str) -> KeyOrder {
        if class == "org.apache.hadoop.io.UTF8" || class == "UTF8" {
            return KeyOrder::Utf8;
        }
        match Class::from_java_name(class) {
            Some(Class::Text) => KeyOrder::Text,
            Some(Class::Bytes) => KeyOrder::Bytes,
            Some(Class::Int | Class::Long | Class::Short | Class::Byte) => KeyOrder::Signed,
            Some(Class::Float) => KeyOrder::Float,
            Some(Class::Double) => KeyOrder::Double,
            Some(Class::VInt | Class::VLong) => KeyOrder::VLong,
            Some(Class::Null) => KeyOrder::Null,
            Some(Class::Boolean | Class::Md5) | None => KeyOrder::Raw,
        }
    }

    /// Compares two serialized keys.
    pub fn compare(self, a: &[u8], b: &[u8]) -> Ordering {
        match self {
            KeyOrder::Raw => a.cmp(b),
            KeyOrder::Null => Ordering::Equal,
            KeyOrder::Text => match (text_payload(a), text_payload(b)) {
                (Some(x), Some(y)) => x.cmp(y),
                _ => a.cmp(b),
            },
            KeyOrder::Bytes => skip(a, 4).cmp(skip(b, 4)),
            KeyOrder::Utf8 => skip(a, 2).cmp(skip(b, 2)),
            KeyOrder::Signed => match (signed(a), signed(b)) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => a.cmp(b),
            },
            KeyOrder::Float => match (<[u8; 4]>::try_from(a), <[u8; 4]>::try_from(b)) {
                (Ok(x), Ok(y)) => java_float_cmp(f32::from_be_bytes(x), f32::from_be_bytes(y)),
                _ => a.cmp(b),
            },
            KeyOrder::Double => match (<[u8; 8]>::try_from(a), <[u8; 8]>::try_from(b)) {
                (Ok(x), Ok(y)) => java_double_cmp(f64::from_be_bytes(x), f64::from_be_bytes(y)),
                _ => a.cmp(b),
            },
            KeyOrder::VLong => match (vint::read_vlong(a), vint::read_vlong(b)) {
                (Ok((x, _)), Ok((y, _))) => x.cmp(&y),
                _ => a.cmp(b),
            },
        }
    }
}

fn text_payload(b: &[u8]) -> Option<&[u8]> {
    let (_, n) = vint::read_vint(b).ok()?;
    b.get(n..)
}

fn skip(b: &[u8], n: usize) -> &[u8] {
    b.get(n..).unwrap_or(b)
}

fn signed(b: &[u8]) -> Option<i64> {
    Some(match b.len() {
        1 => i64::from(b[0] as i8),
        2 => i64::from(i16::from_be_bytes([b[0], b[1]])),
        4 => i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        8 => i64::from_be_bytes(<[u8; 8]>::try_from(b).ok()?),
        _ => return None,
    })
}

/// Java's `Float.compare`: numeric order, -0.0 before 0.0, every NaN equal and largest.
fn java_float_cmp(x: f32, y: f32) -> Ordering {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => x.partial_cmp(&y).filter(|o| o.is_ne()).unwrap_or_else(|| {
            // Equal numerically: only -0.0 vs 0.0 differ, by their bits.
            (x.to_bits() as i32).cmp(&(y.to_bits() as i32))
        }),
    }
}

/// Java's `Double.compare`, as [`java_float_cmp`].
fn java_double_cmp(x: f64, y: f64) -> Ordering {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => x
            .partial_cmp(&y)
            .filter(|o| o.is_ne())
            .unwrap_or_else(|| (x.to_bits() as i64).cmp(&(y.to_bits() as i64))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(order: KeyOrder, mut keys: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        keys.sort_by(|a, b| order.compare(a, b));
        keys
    }

    #[test]
    fn hadoop_sorted_vectors() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../tests/hadoop-vectors.json")).unwrap();
        let sorted_sets = v["sorted"].as_object().unwrap();
        assert!(sorted_sets.len() >= 3, "{sorted_sets:?}");
        for (class, keys) in sorted_sets {
            let order = KeyOrder::for_class(&format!("org.apache.hadoop.io.{class}"));
            let want: Vec<Vec<u8>> = keys
                .as_array()
                .unwrap()
                .iter()
                .map(|k| hex::decode(k.as_str().unwrap()).unwrap())
                .collect();
            let mut shuffled = want.clone();
            shuffled.reverse();
            shuffled.rotate_left(want.len() / 3);
            assert_eq!(sorted(order, shuffled), want, "{class}");
        }
    }

    #[test]
    fn java_float_order() {
        let order = KeyOrder::Float;
        let keys: Vec<Vec<u8>> = [f32::NEG_INFINITY, -1.0, -0.0, 0.0, 1.5, f32::INFINITY, f32::NAN]
            .iter()
            .map(|f| f.to_be_bytes().to_vec())
            .collect();
        let mut shuffled = keys.clone();
        shuffled.reverse();
        assert_eq!(sorted(order, shuffled), keys);
        let neg_nan = (-f32::NAN).to_be_bytes();
        assert_eq!(order.compare(&neg_nan, &f32::NAN.to_be_bytes()), Ordering::Equal);
    }

    #[test]
    fn malformed_keys_do_not_panic() {
        for order in
            [KeyOrder::Text, KeyOrder::Bytes, KeyOrder::Signed, KeyOrder::Float, KeyOrder::VLong]
        {
            let _ = order.compare(&[0x8c], &[]);
            let _ = order.compare(&[1, 2, 3], &[0xff; 9]);
        }
    }
}
