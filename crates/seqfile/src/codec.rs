//! Compression codecs as SequenceFile uses them: one complete, independent
//! stream per RECORD value and per BLOCK buffer.
//!
//! | codec | stream |
//! | --- | --- |
//! | `DefaultCodec`, `DeflateCodec` | zlib (RFC 1950) |
//! | `GzipCodec` | one gzip member (RFC 1952), header as pure-Java Hadoop writes it |
//! | `BZip2Codec` | one bzip2 stream, `BZh9` |
//! | `SnappyCodec`, `Lz4Codec` | Hadoop's block framing around raw Snappy / LZ4 blocks |
//! | `ZStandardCodec` | standard zstd frames |
//!
//! [`Compressor`] and [`Decompressor`] keep their codec state between streams,
//! so compressing many small RECORD values does not allocate a new deflate
//! window for each.

use std::io::{Read, Write};

use crate::error::{Error, ErrorKind, Result};

/// A compression codec, named in the header by its Hadoop class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// `org.apache.hadoop.io.compress.DefaultCodec`: zlib.
    Default,
    /// `org.apache.hadoop.io.compress.DeflateCodec`: the same zlib bytes under another name.
    Deflate,
    /// `org.apache.hadoop.io.compress.GzipCodec`.
    Gzip,
    /// `org.apache.hadoop.io.compress.BZip2Codec`.
    BZip2,
    /// `org.apache.hadoop.io.compress.SnappyCodec` (Hadoop block framing).
    Snappy,
    /// `org.apache.hadoop.io.compress.Lz4Codec` (Hadoop block framing).
    Lz4,
    /// `org.apache.hadoop.io.compress.ZStandardCodec`.
    ZStandard,
}

/// Largest raw chunk Hadoop's Snappy decompressor accepts with its default
/// 256 KiB buffer (`B - (B/6 + 32)`).
pub const SNAPPY_MAX_CHUNK: usize = 218_422;
/// Largest raw chunk Hadoop's LZ4 decompressor accepts (`B - (B/255 + 16)`).
pub const LZ4_MAX_CHUNK: usize = 261_100;
/// Hadoop's decompressors hold this many bytes; larger chunks fail there.
const HADOOP_CODEC_BUFFER: usize = 262_144;

impl Codec {
    /// Every codec, in a stable order.
    pub const ALL: [Codec; 7] = [
        Codec::Default,
        Codec::Deflate,
        Codec::Gzip,
        Codec::BZip2,
        Codec::Snappy,
        Codec::Lz4,
        Codec::ZStandard,
    ];

    /// The Java class name stored in SequenceFile headers.
    pub fn class_name(self) -> &'static str {
        match self {
            Codec::Default => "org.apache.hadoop.io.compress.DefaultCodec",
            Codec::Deflate => "org.apache.hadoop.io.compress.DeflateCodec",
            Codec::Gzip => "org.apache.hadoop.io.compress.GzipCodec",
            Codec::BZip2 => "org.apache.hadoop.io.compress.BZip2Codec",
            Codec::Snappy => "org.apache.hadoop.io.compress.SnappyCodec",
            Codec::Lz4 => "org.apache.hadoop.io.compress.Lz4Codec",
            Codec::ZStandard => "org.apache.hadoop.io.compress.ZStandardCodec",
        }
    }

    /// A short lowercase name: `default`, `deflate`, `gzip`, `bzip2`, `snappy`, `lz4`, `zstd`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Default => "default",
            Codec::Deflate => "deflate",
            Codec::Gzip => "gzip",
            Codec::BZip2 => "bzip2",
            Codec::Snappy => "snappy",
            Codec::Lz4 => "lz4",
            Codec::ZStandard => "zstd",
        }
    }

    /// Looks a codec up by its exact Java class name.
    pub fn from_class_name(name: &str) -> Option<Codec> {
        Codec::ALL.into_iter().find(|c| c.class_name() == name)
    }

    /// Looks a codec up by short name (see [`Codec::name`]), `zlib`, or class name.
    pub fn from_name(name: &str) -> Option<Codec> {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "zlib" => return Some(Codec::Default),
            "zstandard" => return Some(Codec::ZStandard),
            _ => {}
        }
        Codec::ALL.into_iter().find(|c| c.name() == lower).or_else(|| Codec::from_class_name(name))
    }

    fn corrupt(self, message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Decompress { codec: self.name(), message: message.into() })
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Compresses complete streams with one codec, reusing its state.
pub struct Compressor {
    codec: Codec,
    level: Option<u32>,
    deflate: Option<libdeflater::Compressor>,
    snappy: snap::raw::Encoder,
    zstd: Option<zstd::bulk::Compressor<'static>>,
}

// The codec libraries' states have no useful `Debug`.
#[allow(clippy::missing_fields_in_debug)]
impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("codec", &self.codec)
            .field("level", &self.level)
            .finish()
    }
}

impl Compressor {
    /// A compressor at the codec's Hadoop default level (zlib 6, bzip2 9, zstd 3).
    pub fn new(codec: Codec) -> Self {
        Compressor::with_level(codec, None)
    }

    /// A compressor with an explicit level (ignored by Snappy and LZ4).
    pub fn with_level(codec: Codec, level: Option<u32>) -> Self {
        Compressor { codec, level, deflate: None, snappy: snap::raw::Encoder::new(), zstd: None }
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    fn deflate_compressor(&mut self) -> Result<&mut libdeflater::Compressor> {
        if self.deflate.is_none() {
            let level = self.level.unwrap_or(6).min(12) as i32;
            let level = libdeflater::CompressionLvl::new(level)
                .map_err(|e| Error::invalid(format!("deflate level {level}: {e:?}")))?;
            self.deflate = Some(libdeflater::Compressor::new(level));
        }
        self.deflate.as_mut().ok_or_else(|| Error::invalid("no deflate compressor"))
    }

    /// Appends one complete codec stream holding `input` to `out`.
    ///
    /// # Errors
    ///
    /// Only if the underlying library fails, which does not happen for valid levels.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        match self.codec {
            Codec::Default | Codec::Deflate => {
                // libdeflate: whole-buffer compression, which is exactly what a
                // RECORD value or a BLOCK buffer is, at about twice zlib's speed.
                let c = self.deflate_compressor()?;
                let start = out.len();
                out.resize(start + c.zlib_compress_bound(input.len()), 0);
                let n = c
                    .zlib_compress(input, &mut out[start..])
                    .map_err(|e| Error::invalid(format!("deflate: {e:?}")))?;
                out.truncate(start + n);
                Ok(())
            }
            Codec::Gzip => {
                // The header Hadoop's pure-Java compressor writes (no flags,
                // mtime 0, XFL 0, OS 0), raw deflate, CRC-32 and length.
                let c = self.deflate_compressor()?;
                out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0]);
                let start = out.len();
                out.resize(start + c.deflate_compress_bound(input.len()), 0);
                let n = c
                    .deflate_compress(input, &mut out[start..])
                    .map_err(|e| Error::invalid(format!("deflate: {e:?}")))?;
                out.truncate(start + n);
                out.extend_from_slice(&libdeflater::crc32(input).to_le_bytes());
                out.extend_from_slice(&(input.len() as u32).to_le_bytes());
                Ok(())
            }
            Codec::BZip2 => {
                // The level is bzip2's block size in units of 100 kB. Hadoop
                // always writes 9, but a value that fits a smaller block
                // compresses to the same blocks with a smaller digit, and
                // allocating the 7.6 MB of level-9 state per small RECORD
                // value dominated writing time. Hadoop reads any digit.
                let fits = u32::try_from(input.len().div_ceil(100_000)).unwrap_or(9).clamp(1, 9);
                let level = bzip2::Compression::new(self.level.unwrap_or(fits).clamp(1, 9));
                let mut enc = bzip2::write::BzEncoder::new(std::mem::take(out), level);
                enc.write_all(input)?;
                *out = enc.finish()?;
                Ok(())
            }
            Codec::Snappy => {
                let enc = &mut self.snappy;
                frame_blocks(input, SNAPPY_MAX_CHUNK, out, |chunk, out| {
                    let start = out.len();
                    out.resize(start + snap::raw::max_compress_len(chunk.len()), 0);
                    let n = enc
                        .compress(chunk, &mut out[start..])
                        .map_err(|e| Error::invalid(format!("snappy: {e}")))?;
                    out.truncate(start + n);
                    Ok(())
                })
            }
            Codec::Lz4 => frame_blocks(input, LZ4_MAX_CHUNK, out, |chunk, out| {
                let start = out.len();
                out.resize(start + lz4_flex::block::get_maximum_output_size(chunk.len()), 0);
                let n = lz4_flex::block::compress_into(chunk, &mut out[start..])
                    .map_err(|e| Error::invalid(format!("lz4: {e}")))?;
                out.truncate(start + n);
                Ok(())
            }),
            Codec::ZStandard => {
                let level = self.level.map_or(3, |l| l as i32);
                if self.zstd.is_none() {
                    self.zstd = Some(zstd::bulk::Compressor::new(level)?);
                }
                if let Some(z) = self.zstd.as_mut() {
                    out.extend_from_slice(&z.compress(input)?);
                }
                Ok(())
            }
        }
    }
}

/// Hadoop's BlockCompressorStream framing: `[rawLen][compLen][chunk]` per
/// piece of at most `max_chunk` raw bytes; an empty input is one `00000000`.
fn frame_blocks(
    input: &[u8],
    max_chunk: usize,
    out: &mut Vec<u8>,
    mut compress_chunk: impl FnMut(&[u8], &mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    if input.is_empty() {
        out.extend_from_slice(&[0, 0, 0, 0]);
        return Ok(());
    }
    for piece in input.chunks(max_chunk) {
        out.extend_from_slice(&(piece.len() as u32).to_be_bytes());
        let len_at = out.len();
        out.extend_from_slice(&[0, 0, 0, 0]);
        compress_chunk(piece, out)?;
        let comp_len = (out.len() - len_at - 4) as u32;
        out[len_at..len_at + 4].copy_from_slice(&comp_len.to_be_bytes());
    }
    Ok(())
}

/// Decompresses complete streams with one codec, reusing its state.
pub struct Decompressor {
    codec: Codec,
    limit: usize,
    inflate: Option<flate2::Decompress>,
    snappy: snap::raw::Decoder,
}

#[allow(clippy::missing_fields_in_debug)]
impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decompressor")
            .field("codec", &self.codec)
            .field("limit", &self.limit)
            .finish()
    }
}

impl Decompressor {
    /// A decompressor that refuses to produce more than `limit` bytes per stream.
    pub fn new(codec: Codec, limit: usize) -> Self {
        Decompressor { codec, limit, inflate: None, snappy: snap::raw::Decoder::new() }
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Decodes at least the first `want` bytes of a stream into `out` (which
    /// must be empty) and returns whether all of it was decoded. zlib streams
    /// stop early, so a lookup that needs the first values of a block does not
    /// inflate all of it; other codecs decode everything. A prefix is not
    /// checksummed: only a complete decode verifies the stream.
    ///
    /// # Errors
    ///
    /// As [`Decompressor::decompress`].
    pub fn decompress_prefix(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        want: usize,
    ) -> Result<bool> {
        if matches!(self.codec, Codec::Default | Codec::Deflate) {
            let (codec, limit) = (self.codec, self.limit);
            let d = self.inflate.get_or_insert_with(|| flate2::Decompress::new(true));
            d.reset(true);
            let (used, ended) = inflate_until(d, input, out, limit, codec, want)?;
            if !ended {
                return Ok(false);
            }
            if used == input.len() {
                return Ok(true);
            }
            out.clear();
        }
        self.decompress(input, out)?;
        Ok(true)
    }

    /// Decodes one complete stream (`input` must hold all of it) and appends the
    /// result to `out`.
    ///
    /// # Errors
    ///
    /// `Decompress` for corrupt or truncated streams, `TooLarge` when the output
    /// would pass the limit.
    pub fn decompress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let codec = self.codec;
        let limit = self.limit;
        match codec {
            Codec::Default | Codec::Deflate => {
                let d = self.inflate.get_or_insert_with(|| flate2::Decompress::new(true));
                let mut rest = input;
                // Hadoop restarts after a finished stream if input remains.
                loop {
                    d.reset(true);
                    let used = inflate_all(d, rest, out, limit, codec)?;
                    rest = &rest[used..];
                    if rest.is_empty() {
                        return Ok(());
                    }
                }
            }
            Codec::Gzip => {
                let d = self.inflate.get_or_insert_with(|| flate2::Decompress::new(false));
                let mut rest = input;
                loop {
                    let header = gzip_header_len(rest).map_err(|m| codec.corrupt(m))?;
                    rest = &rest[header..];
                    d.reset(false);
                    let start = out.len();
                    let used = inflate_all(d, rest, out, limit, codec)?;
                    rest = &rest[used..];
                    let Some(trailer) = rest.get(..8) else {
                        return Err(codec.corrupt("member ends before its CRC and size"));
                    };
                    let mut crc = flate2::Crc::new();
                    crc.update(&out[start..]);
                    let want_crc =
                        u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
                    let want_len =
                        u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
                    if crc.sum() != want_crc {
                        return Err(codec.corrupt("CRC-32 mismatch"));
                    }
                    if (out.len() - start) as u32 != want_len {
                        return Err(codec.corrupt("length mismatch"));
                    }
                    rest = &rest[8..];
                    if rest.is_empty() {
                        return Ok(());
                    }
                }
            }
            Codec::BZip2 => {
                let dec = bzip2::read::MultiBzDecoder::new(input);
                read_limited(dec, out, limit, codec)
            }
            Codec::ZStandard => {
                let dec = zstd::stream::read::Decoder::with_buffer(input)?;
                read_limited(dec, out, limit, codec)
            }
            Codec::Snappy => {
                let dec = &mut self.snappy;
                unframe_blocks(input, out, limit, codec, |chunk, room, out| {
                    let n = snap::raw::decompress_len(chunk)
                        .map_err(|e| codec.corrupt(e.to_string()))?;
                    if n > room {
                        return Err(codec.corrupt("chunk larger than its block"));
                    }
                    let start = out.len();
                    out.resize(start + n, 0);
                    dec.decompress(chunk, &mut out[start..])
                        .map_err(|e| codec.corrupt(e.to_string()))?;
                    Ok(n)
                })
            }
            Codec::Lz4 => unframe_blocks(input, out, limit, codec, |chunk, room, out| {
                // A raw LZ4 block does not state its size: bound it by what the
                // block still owes and by LZ4's maximum ratio.
                let cap = room.min(chunk.len().saturating_mul(255).saturating_add(16));
                let start = out.len();
                out.resize(start + cap, 0);
                let n = lz4_flex::block::decompress_into(chunk, &mut out[start..])
                    .map_err(|e| codec.corrupt(e.to_string()))?;
                out.truncate(start + n);
                Ok(n)
            }),
        }
    }
}

/// Inflates one deflate stream from `input`; returns the input bytes used.
fn inflate_all(
    d: &mut flate2::Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
    codec: Codec,
) -> Result<usize> {
    inflate_until(d, input, out, limit, codec, usize::MAX).map(|(used, _)| used)
}

/// Inflates until the stream ends or `stop_at` bytes came out; returns the
/// input bytes used and whether the stream ended.
fn inflate_until(
    d: &mut flate2::Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
    codec: Codec,
    stop_at: usize,
) -> Result<(usize, bool)> {
    let start_in = d.total_in();
    let base = out.len();
    loop {
        if out.len() - base >= stop_at {
            return Ok(((d.total_in() - start_in) as usize, false));
        }
        let used = (d.total_in() - start_in) as usize;
        if out.len() == out.capacity() {
            if out.len() - base >= limit {
                return Err(too_large(limit));
            }
            let mut want = (input.len() * 3).clamp(4096, 1 << 20).min(limit - (out.len() - base));
            if stop_at != usize::MAX {
                // Inflate no further than asked (give or take 4 KiB).
                want = want.min((stop_at - (out.len() - base)).max(4096));
            }
            out.reserve_exact(want.max(1));
        }
        let status = d
            .decompress_vec(&input[used..], out, flate2::FlushDecompress::None)
            .map_err(|e| codec.corrupt(e.to_string()))?;
        if out.len() - base > limit {
            return Err(too_large(limit));
        }
        match status {
            flate2::Status::StreamEnd => return Ok(((d.total_in() - start_in) as usize, true)),
            flate2::Status::Ok => {}
            flate2::Status::BufError => {
                let now = (d.total_in() - start_in) as usize;
                if now == input.len() && out.len() < out.capacity() {
                    return Err(codec.corrupt("stream is truncated"));
                }
            }
        }
    }
}

fn too_large(limit: usize) -> Error {
    Error::new(ErrorKind::TooLarge {
        what: "decompressed stream",
        len: limit as u64 + 1,
        limit: limit as u64,
    })
}

/// Length of the gzip member header at the front of `b` (RFC 1952).
fn gzip_header_len(b: &[u8]) -> std::result::Result<usize, &'static str> {
    if b.len() < 10 {
        return Err("member header is truncated");
    }
    if b[0] != 0x1f || b[1] != 0x8b || b[2] != 8 {
        return Err("not a gzip member");
    }
    let flags = b[3];
    let mut pos = 10;
    if flags & 4 != 0 {
        let x = b.get(pos..pos + 2).ok_or("extra field is truncated")?;
        pos += 2 + usize::from(u16::from_le_bytes([x[0], x[1]]));
    }
    for bit in [8u8, 16] {
        if flags & bit != 0 {
            let rest = b.get(pos..).ok_or("header is truncated")?;
            let nul =
                rest.iter().position(|&c| c == 0).ok_or("name or comment is not terminated")?;
            pos += nul + 1;
        }
    }
    if flags & 2 != 0 {
        pos += 2;
    }
    if pos > b.len() { Err("member header is truncated") } else { Ok(pos) }
}

fn read_limited(r: impl Read, out: &mut Vec<u8>, limit: usize, codec: Codec) -> Result<()> {
    let start = out.len();
    r.take(limit as u64 + 1).read_to_end(out).map_err(|e| codec.corrupt(e.to_string()))?;
    if out.len() - start > limit {
        return Err(too_large(limit));
    }
    Ok(())
}

/// Reads Hadoop's block framing; `chunk` decodes one raw chunk given how many
/// bytes its block still owes, appends them, and returns how many it produced.
fn unframe_blocks(
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
    codec: Codec,
    mut chunk: impl FnMut(&[u8], usize, &mut Vec<u8>) -> Result<usize>,
) -> Result<()> {
    let start = out.len();
    let mut pos = 0usize;
    while pos < input.len() {
        let raw_len =
            be_u32(input, pos).ok_or_else(|| codec.corrupt("block header is truncated"))?;
        pos += 4;
        if raw_len == 0 {
            // Hadoop's BlockDecompressorStream ends the stream here.
            break;
        }
        let raw_len = raw_len as usize;
        if out.len() - start + raw_len > limit {
            return Err(Error::new(ErrorKind::TooLarge {
                what: "decompressed stream",
                len: (out.len() - start + raw_len) as u64,
                limit: limit as u64,
            }));
        }
        let mut produced = 0usize;
        while produced < raw_len {
            let comp_len = be_u32(input, pos)
                .ok_or_else(|| codec.corrupt("chunk header is truncated"))?
                as usize;
            pos += 4;
            if comp_len > HADOOP_CODEC_BUFFER * 2 {
                return Err(codec.corrupt(format!(
                    "chunk of {comp_len} bytes is larger than any Hadoop writes"
                )));
            }
            let data = input
                .get(pos..pos + comp_len)
                .ok_or_else(|| codec.corrupt(format!("chunk of {comp_len} bytes is truncated")))?;
            pos += comp_len;
            produced += chunk(data, raw_len - produced, out)?;
        }
    }
    Ok(())
}

fn be_u32(b: &[u8], pos: usize) -> Option<u32> {
    let s = b.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &[u8] = b"hello hello hello hello hello";

    fn compress(codec: Codec, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        Compressor::new(codec).compress(input, &mut out).unwrap();
        out
    }

    fn decompress(codec: Codec, input: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        Decompressor::new(codec, 1 << 30).decompress(input, &mut out)?;
        Ok(out)
    }

    #[test]
    fn empty_streams_match_hadoop() {
        // Bytes Hadoop 3.5 writes for an empty value (spec §3.5) decode; ours
        // are a valid zlib stream too (libdeflate picks a stored block).
        assert_eq!(decompress(Codec::Default, &[0x78, 0x9c, 3, 0, 0, 0, 0, 1]).unwrap(), b"");
        assert_eq!(compress(Codec::Default, b"")[..2], [0x78, 0x9c]);
        let hadoop_gzip = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(decompress(Codec::Gzip, &hadoop_gzip).unwrap(), b"");
        assert_eq!(
            compress(Codec::Gzip, b"")[..10],
            hadoop_gzip[..10],
            "header as Hadoop writes it"
        );
        let hadoop_bzip2 = [0x42, 0x5a, 0x68, 0x39, 0x17, 0x72, 0x45, 0x38, 0x50, 0x90, 0, 0, 0, 0];
        assert_eq!(decompress(Codec::BZip2, &hadoop_bzip2).unwrap(), b"");
        assert_eq!(compress(Codec::BZip2, b"")[..3], *b"BZh");
        assert_eq!(compress(Codec::Snappy, b""), [0, 0, 0, 0]);
        assert_eq!(compress(Codec::Lz4, b""), [0, 0, 0, 0]);
    }

    #[test]
    fn hadoop_vectors_decode() {
        let zlib = hex::decode("789ccb48cdc9c957c8c04e0200a3100ae5").unwrap();
        assert_eq!(decompress(Codec::Default, &zlib).unwrap(), HELLO);
        let snappy = hex::decode("0000001d0000000b1d1468656c6c6f205a0600").unwrap();
        assert_eq!(decompress(Codec::Snappy, &snappy).unwrap(), HELLO);
        let lz4 = hex::decode("0000001d0000000f6e68656c6c6f2006005068656c6c6f").unwrap();
        assert_eq!(decompress(Codec::Lz4, &lz4).unwrap(), HELLO);
    }

    #[test]
    fn every_codec_round_trips_large_input() {
        let input: Vec<u8> =
            (0..700_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for codec in Codec::ALL {
            let c = compress(codec, &input);
            assert_eq!(decompress(codec, &c).unwrap(), input, "{codec}");
            assert_eq!(decompress(codec, &compress(codec, b"")).unwrap(), b"", "{codec} empty");
        }
    }

    #[test]
    fn snappy_and_lz4_chunks_stay_within_hadoop_limits() {
        let input = vec![7u8; 1_000_000];
        for (codec, max) in [(Codec::Snappy, SNAPPY_MAX_CHUNK), (Codec::Lz4, LZ4_MAX_CHUNK)] {
            let c = compress(codec, &input);
            let mut pos = 0;
            let mut blocks = 0;
            while pos < c.len() {
                let raw = be_u32(&c, pos).unwrap() as usize;
                let comp = be_u32(&c, pos + 4).unwrap() as usize;
                assert!(raw <= max && comp <= HADOOP_CODEC_BUFFER, "{codec}: {raw} {comp}");
                pos += 8 + comp;
                blocks += 1;
            }
            assert_eq!(blocks, 1_000_000usize.div_ceil(max));
        }
    }

    #[test]
    fn concatenated_zlib_and_gzip_streams_decode() {
        for codec in [Codec::Default, Codec::Gzip] {
            let mut two = compress(codec, b"abc");
            two.extend(compress(codec, b"def"));
            assert_eq!(decompress(codec, &two).unwrap(), b"abcdef");
        }
    }

    #[test]
    fn corrupt_and_truncated_streams_are_errors() {
        for codec in Codec::ALL {
            let c = compress(codec, HELLO);
            for cut in [1, c.len() / 2, c.len() - 1] {
                assert!(decompress(codec, &c[..cut]).is_err(), "{codec} cut at {cut}");
            }
        }
        assert!(decompress(Codec::Snappy, &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0]).is_err());
    }

    #[test]
    fn limit_stops_bombs() {
        let big = compress(Codec::Default, &vec![0u8; 10_000_000]);
        let mut out = Vec::new();
        let err =
            Decompressor::new(Codec::Default, 1_000_000).decompress(&big, &mut out).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::TooLarge { .. }), "{err}");
        let big = compress(Codec::Snappy, &vec![0u8; 10_000_000]);
        assert!(Decompressor::new(Codec::Snappy, 1_000_000).decompress(&big, &mut out).is_err());
    }

    #[test]
    fn names_resolve() {
        for codec in Codec::ALL {
            assert_eq!(Codec::from_class_name(codec.class_name()), Some(codec));
            assert_eq!(Codec::from_name(codec.name()), Some(codec));
        }
        assert_eq!(Codec::from_name("zlib"), Some(Codec::Default));
        assert_eq!(Codec::from_class_name("com.hadoop.compression.lzo.LzoCodec"), None);
    }
}
