//! Discarding a refused request's bytes as they arrive, shared by the
//! binary and text decoders: a refused body is never buffered whole.

use bytes::{Buf, BytesMut};

/// Drops up to `*skipping` bytes from the front of `buf`; true once
/// nothing remains to drop.
pub(crate) fn discard(skipping: &mut u64, buf: &mut BytesMut) -> bool {
    if *skipping > 0 {
        let n = usize::try_from(*skipping).map_or(buf.len(), |s| s.min(buf.len()));
        buf.advance(n);
        *skipping -= n as u64;
    }
    *skipping == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_across_reads() {
        let mut skipping = 5;
        let mut buf = BytesMut::from(&b"abc"[..]);
        assert!(!discard(&mut skipping, &mut buf));
        assert_eq!((skipping, buf.len()), (2, 0));
        buf.extend_from_slice(b"deNEXT");
        assert!(discard(&mut skipping, &mut buf));
        assert_eq!(&buf[..], b"NEXT");
    }
}
