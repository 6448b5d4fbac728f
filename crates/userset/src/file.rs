//! The saved set: a 64-byte header and a body of little-endian 64-bit words.
//!
//! Header (all integers little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic `MMUSRSET` |
//! | 8..12 | format version ([`VERSION`]) |
//! | 12..16 | header length, 64 |
//! | 16..24 | number of names |
//! | 24..32 | body length in bytes (a multiple of 8) |
//! | 32..36 | CRC-32 of the body |
//! | 36..60 | zero (reserved) |
//! | 60..64 | CRC-32 of bytes 0..60 |
//!
//! Body, as words: the code base, the number of coded classes, the 256-bit
//! code alphabet; per class its code (0: the plain base-`|Σ|` code, 1: the
//! anagram code; version 3 only), count, code width, directory shift and
//! three arrays (chunk heads, each chunk's first value beside its offset word;
//! directory as packed 32-bit entries; bits), each as a length word and its
//! words; then the front-coded part:
//! its count, its 256-bit alphabet, and three arrays (block heads, block
//! offsets, bits).
//!
//! Version 3 added the per-class code word; a version 2 file (every class
//! in the plain code) still loads, and saves as version 3. Version 1 and
//! unknown versions are refused with [`Error::Version`].
//!
//! Loading streams the body into the arrays (no second copy, no rebuild),
//! checking every length against the bytes left before allocating, then the
//! body checksum, then the structural invariants lookups rely on.

use std::io::{self, Read, Write};

use crate::anagram::Anagram;
use crate::error::Error;
use crate::fc::{Alphabet, FrontCoded};
use crate::pef::Pef;
use crate::set::{CodeKind, UserSet, code_lengths, kind_bits};

/// The format version this build writes (it also reads [`OLDEST_READ`]
/// and later).
pub const VERSION: u32 = 3;
/// The oldest format version this build reads.
pub const OLDEST_READ: u32 = 2;
const MAGIC: &[u8; 8] = b"MMUSRSET";
const HEADER_LEN: u64 = 64;

/// Counts and checksums what passes through.
struct Crc<W> {
    inner: W,
    hasher: crc32fast::Hasher,
    len: u64,
}

impl<W: Write> Write for Crc<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn put(w: &mut impl Write, v: u64) -> io::Result<()> {
    w.write_all(&v.to_le_bytes())
}

fn put_words(w: &mut impl Write, v: &[u64]) -> io::Result<()> {
    put(w, v.len() as u64)?;
    let mut buf = Vec::with_capacity(8 * v.len().min(8192));
    for chunk in v.chunks(8192) {
        buf.clear();
        for x in chunk {
            buf.extend_from_slice(&x.to_le_bytes());
        }
        w.write_all(&buf)?;
    }
    Ok(())
}

fn put_u32s(w: &mut impl Write, v: &[u32]) -> io::Result<()> {
    put(w, v.len() as u64)?;
    for pair in v.chunks(2) {
        let hi = pair.get(1).copied().unwrap_or(0);
        put(w, u64::from(pair[0]) | (u64::from(hi) << 32))?;
    }
    Ok(())
}

fn write_body(set: &UserSet, w: &mut impl Write) -> io::Result<()> {
    put(w, set.base)?;
    put(w, set.classes.len() as u64)?;
    for m in set.alphabet.present {
        put(w, m)?;
    }
    for (c, kind) in set.classes.iter().zip(&set.kinds) {
        put(w, kind.word())?;
        put(w, c.n)?;
        put(w, u64::from(c.bits))?;
        put(w, u64::from(c.shift))?;
        put_words(w, &c.heads)?;
        put_u32s(w, &c.dir)?;
        put_words(w, &c.data)?;
    }
    put(w, set.fc.n)?;
    for m in set.fc.alphabet.present {
        put(w, m)?;
    }
    put_words(w, &set.fc.heads)?;
    put_words(w, &set.fc.offs)?;
    put_words(w, &set.fc.data)
}

impl UserSet {
    /// Writes the set (header and body) to `w`.
    ///
    /// # Errors
    /// Whatever `w` returns.
    pub fn write_to(&self, w: &mut impl Write) -> Result<(), Error> {
        let mut sizer = Crc { inner: io::sink(), hasher: crc32fast::Hasher::new(), len: 0 };
        write_body(self, &mut sizer)?;
        let mut h = [0u8; HEADER_LEN as usize];
        h[0..8].copy_from_slice(MAGIC);
        h[8..12].copy_from_slice(&VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        h[16..24].copy_from_slice(&self.len().to_le_bytes());
        h[24..32].copy_from_slice(&sizer.len.to_le_bytes());
        h[32..36].copy_from_slice(&sizer.hasher.finalize().to_le_bytes());
        let hc = crc32fast::hash(&h[..60]);
        h[60..64].copy_from_slice(&hc.to_le_bytes());
        w.write_all(&h)?;
        write_body(self, w)?;
        w.flush()?;
        Ok(())
    }

    /// Saves the set to `path`.
    ///
    /// # Errors
    /// Creating or writing the file.
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<(), Error> {
        let f = std::fs::File::create(path)?;
        let mut w = io::BufWriter::with_capacity(1 << 20, f);
        self.write_to(&mut w)?;
        w.into_inner().map_err(io::IntoInnerError::into_error)?.sync_all()?;
        Ok(())
    }

    /// Loads a set saved by [`save`](Self::save).
    ///
    /// # Errors
    /// I/O errors, and a clear [`Error`] for anything that is not an intact
    /// set file of this format version.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<UserSet, Error> {
        let f = std::fs::File::open(path)?;
        let len = f.metadata()?.len();
        UserSet::read_from(io::BufReader::with_capacity(1 << 20, f), len)
    }

    /// Reads a set from bytes in memory.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn from_bytes(bytes: &[u8]) -> Result<UserSet, Error> {
        UserSet::read_from(bytes, bytes.len() as u64)
    }

    /// Reads a set of `len` bytes from `r`.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn read_from(mut r: impl Read, len: u64) -> Result<UserSet, Error> {
        let mut h = [0u8; HEADER_LEN as usize];
        if len < HEADER_LEN {
            let mut head = Vec::new();
            r.take(8).read_to_end(&mut head)?;
            if head.len() < 8 || head != MAGIC {
                return Err(Error::NotASet);
            }
            return Err(Error::Length { expected: HEADER_LEN, actual: len });
        }
        r.read_exact(&mut h)?;
        if &h[0..8] != MAGIC {
            return Err(Error::NotASet);
        }
        let word = |at: usize| u64::from_le_bytes(h[at..at + 8].try_into().unwrap_or([0; 8]));
        let half = |at: usize| u32::from_le_bytes(h[at..at + 4].try_into().unwrap_or([0; 4]));
        if half(60) != crc32fast::hash(&h[..60]) {
            return Err(Error::HeaderChecksum);
        }
        let version = half(8);
        if !(OLDEST_READ..=VERSION).contains(&version) {
            return Err(Error::Version { found: version });
        }
        if u64::from(half(12)) != HEADER_LEN || h[36..60].iter().any(|&b| b != 0) {
            return Err(Error::Corrupt { offset: 12, what: "header layout" });
        }
        let names = word(16);
        let body_len = word(24);
        let expected = HEADER_LEN.saturating_add(body_len);
        if expected != len {
            return Err(Error::Length { expected, actual: len });
        }
        if body_len % 8 != 0 {
            return Err(Error::Corrupt {
                offset: 24,
                what: "body length is not a whole number of words",
            });
        }
        let mut body =
            Body { r, crc: crc32fast::Hasher::new(), words_left: body_len / 8, pos: HEADER_LEN };
        let set = read_body(&mut body, version)?;
        if body.words_left != 0 {
            return Err(Error::Corrupt { offset: body.pos, what: "data after the end of the set" });
        }
        if body.crc.finalize() != half(32) {
            return Err(Error::BodyChecksum);
        }
        if set.len() != names {
            return Err(Error::Corrupt { offset: 16, what: "name count differs from the body" });
        }
        Ok(set)
    }
}

struct Body<R> {
    r: R,
    crc: crc32fast::Hasher,
    words_left: u64,
    /// File offset of the next word.
    pos: u64,
}

impl<R: Read> Body<R> {
    fn truncated(&self) -> Error {
        Error::Corrupt { offset: self.pos, what: "body ends inside a field" }
    }

    fn word(&mut self) -> Result<u64, Error> {
        if self.words_left == 0 {
            return Err(self.truncated());
        }
        let mut b = [0u8; 8];
        self.r.read_exact(&mut b)?;
        self.crc.update(&b);
        self.words_left -= 1;
        self.pos += 8;
        Ok(u64::from_le_bytes(b))
    }

    fn small(&mut self, limit: u64, what: &'static str) -> Result<u64, Error> {
        let at = self.pos;
        let v = self.word()?;
        if v > limit {
            return Err(Error::Corrupt { offset: at, what });
        }
        Ok(v)
    }

    /// A length word then that many words; the length is checked against
    /// the words left before anything is allocated.
    fn words(&mut self) -> Result<Vec<u64>, Error> {
        let at = self.pos;
        let n = self.word()?;
        if n > self.words_left {
            return Err(Error::Corrupt {
                offset: at,
                what: "array longer than the rest of the file",
            });
        }
        let n = n as usize;
        let mut out = Vec::with_capacity(n);
        let mut buf = vec![0u8; 8 * n.min(8192)];
        while out.len() < n {
            let take = (n - out.len()).min(8192);
            let bytes = &mut buf[..8 * take];
            self.r.read_exact(bytes)?;
            self.crc.update(bytes);
            out.extend(
                bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))),
            );
        }
        self.words_left -= n as u64;
        self.pos += 8 * n as u64;
        Ok(out)
    }

    fn u32s(&mut self) -> Result<Vec<u32>, Error> {
        let at = self.pos;
        let n = self.word()?;
        if n.div_ceil(2) > self.words_left {
            return Err(Error::Corrupt {
                offset: at,
                what: "array longer than the rest of the file",
            });
        }
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n.div_ceil(2) {
            let at = self.pos;
            let w = self.word()?;
            out.push(w as u32);
            if 2 * i + 1 < n {
                out.push((w >> 32) as u32);
            } else if w >> 32 != 0 {
                return Err(Error::Corrupt { offset: at, what: "padding is not zero" });
            }
        }
        Ok(out)
    }

    fn mask(&mut self) -> Result<[u64; 4], Error> {
        Ok([self.word()?, self.word()?, self.word()?, self.word()?])
    }
}

fn read_body<R: Read>(b: &mut Body<R>, version: u32) -> Result<UserSet, Error> {
    let at = b.pos;
    let base = b.small(256, "code base above 256")?;
    let nclasses = b.small(65, "more than 65 coded lengths")?;
    let mask_at = b.pos;
    let alphabet = Alphabet::from_mask(b.mask()?);
    if base != (alphabet.len() as u64).max(2) {
        return Err(Error::Corrupt {
            offset: at,
            what: "code base differs from the alphabet size",
        });
    }
    if nclasses as usize != code_lengths(base) + 1 {
        return Err(Error::Corrupt {
            offset: mask_at,
            what: "coded lengths differ from the code base",
        });
    }
    let anagram = Anagram::new(base);
    let mut classes = Vec::with_capacity(nclasses as usize);
    let mut kinds = Vec::with_capacity(nclasses as usize);
    for len in 0..nclasses as usize {
        let kind = if version >= 3 {
            let at = b.pos;
            CodeKind::from_word(b.word()?)
                .ok_or(Error::Corrupt { offset: at, what: "unknown code kind" })?
        } else {
            CodeKind::Lex
        };
        let at = b.pos;
        let n = b.word()?;
        let bits = b.small(63, "code width above 63")? as u32;
        let shift = b.small(63, "directory shift above 63")? as u32;
        let Some(want) = kind_bits(base, &anagram, len, kind) else {
            return Err(Error::Corrupt {
                offset: at.saturating_sub(8),
                what: "anagram code for a length that cannot have one",
            });
        };
        if bits != want {
            return Err(Error::Corrupt {
                offset: at + 8,
                what: "code width differs from the name length",
            });
        }
        let pef = Pef {
            n,
            bits,
            shift,
            heads: b.words()?.into(),
            dir: b.u32s()?.into(),
            data: b.words()?.into(),
        };
        pef.validate().map_err(|what| Error::Corrupt { offset: at, what })?;
        classes.push(pef);
        kinds.push(kind);
    }
    let at = b.pos;
    let n = b.word()?;
    let fc = FrontCoded {
        n,
        alphabet: Alphabet::from_mask(b.mask()?),
        heads: b.words()?.into(),
        offs: b.words()?.into(),
        data: b.words()?.into(),
    };
    fc.validate().map_err(|what| Error::Corrupt { offset: at, what })?;
    Ok(UserSet { alphabet, base, kinds, anagram, classes, fc })
}
