//! [`Direct`]: the few binary requests a cluster tool sends a node itself —
//! pipelined reads with their CAS, deletes guarded by a CAS, and `STAT`
//! groups. Every pipeline ends with a NOOP, so one round trip answers it.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use memcache::binary::{Batch, Limits, Opcode, Response, Status};

use crate::conn::{Endpoint, PacketReader, Read1, Stream, Transport, write_all};
use crate::error::{Error, Result};

/// An item as a node holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Value.
    pub value: Bytes,
    /// Item flags.
    pub flags: u32,
    /// CAS at the time of the read.
    pub cas: u64,
}

/// What a CAS-guarded delete found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deleted {
    /// The item was still at that CAS and is gone.
    Done,
    /// The item changed since (another CAS): it was left alone.
    Changed,
    /// The item was no longer there.
    Missing,
}

/// A plain request/response connection to one server.
#[derive(Debug)]
pub struct Direct<T = Stream> {
    transport: T,
    reader: PacketReader,
    reply_timeout: Duration,
}

impl Direct<Stream> {
    /// Connects and authenticates.
    ///
    /// # Errors
    /// Connecting or authentication.
    pub fn connect(endpoint: &Endpoint) -> Result<Direct<Stream>> {
        let s = endpoint.connect_authenticated()?;
        Ok(Direct::new(s))
    }
}

impl<T: Transport> Direct<T> {
    /// Wraps an open, authenticated transport (replies awaited up to 60 s).
    pub fn new(transport: T) -> Direct<T> {
        Direct {
            transport,
            reader: PacketReader::new(Limits::default()),
            reply_timeout: Duration::from_secs(60),
        }
    }

    /// How long a pipeline's replies are awaited.
    pub fn set_reply_timeout(&mut self, t: Duration) {
        self.reply_timeout = t;
    }

    fn next(&mut self) -> Result<Response> {
        let (packet, at) = match self.reader.read(&mut self.transport, Some(self.reply_timeout))? {
            Read1::Packet(p, at) => (p, at),
            Read1::Idle => return Err(Error::Idle { secs: self.reply_timeout.as_secs() }),
            Read1::Eof => return Err(Error::Disconnected { offset: self.reader.offset() }),
        };
        Response::parse(packet, &Limits::default()).map_err(|e| Error::protocol(at, &e))
    }

    /// Sends `out` (requests with opaques from 1, then a NOOP with opaque
    /// `end`) and hands every reply before the NOOP's to `each`.
    fn round_trip(
        &mut self,
        out: &[u8],
        end: u32,
        mut each: impl FnMut(Response) -> Result<()>,
    ) -> Result<()> {
        write_all(&mut self.transport, out)?;
        loop {
            let r = self.next()?;
            if r.opcode == Opcode::NOOP && r.opaque == end {
                return Ok(());
            }
            each(r)?;
        }
    }

    /// Reads `keys` in one GETKQ pipeline: the ones the server holds, with
    /// value, flags and CAS. Misses are simply absent.
    ///
    /// # Errors
    /// I/O, a garbled reply, or a read the server refused (other than a
    /// miss), naming the key.
    pub fn get_many(&mut self, keys: &[Bytes]) -> Result<HashMap<Bytes, Found>> {
        let mut out = BytesMut::new();
        let mut b = Batch::new(&mut out, 1);
        for k in keys {
            b.getkq(k);
        }
        let end = b.noop();
        let mut found = HashMap::with_capacity(keys.len());
        self.round_trip(&out, end, |r| {
            let key = key_of(keys, r.opaque, &r)?;
            if r.status == Status::KEY_ENOENT {
                return Ok(());
            }
            if !r.status.is_success() {
                return Err(refused(&r, &key));
            }
            let flags = match r.extras[..] {
                [a, b, c, d] => u32::from_be_bytes([a, b, c, d]),
                _ => 0,
            };
            found.insert(key, Found { value: r.value, flags, cas: r.cas });
            Ok(())
        })?;
        Ok(found)
    }

    /// Deletes each `(key, cas)` only if the item still has that CAS, in
    /// one DELETEQ pipeline. Answers one [`Deleted`] per key, in order.
    ///
    /// # Errors
    /// I/O, a garbled reply, or a refusal other than a changed or missing
    /// item, naming the key.
    pub fn delete_many_cas(&mut self, items: &[(Bytes, u64)]) -> Result<Vec<Deleted>> {
        let mut out = BytesMut::new();
        let mut b = Batch::new(&mut out, 1);
        for (k, cas) in items {
            b.delete(true, *cas, k);
        }
        let end = b.noop();
        let mut result = vec![Deleted::Done; items.len()];
        self.round_trip(&out, end, |r| {
            let i = r.opaque.checked_sub(1).map(|i| i as usize).filter(|&i| i < items.len());
            let Some(i) = i else {
                return Err(unmatched(&r));
            };
            result[i] = match r.status {
                Status::KEY_ENOENT => Deleted::Missing,
                Status::KEY_EEXISTS => Deleted::Changed,
                _ => return Err(refused(&r, &items[i].0)),
            };
            Ok(())
        })?;
        Ok(result)
    }

    /// A `STAT` group (`b""` for the general one, `b"tap"`, `b"engine"`…)
    /// as name/value pairs.
    ///
    /// # Errors
    /// I/O, a garbled reply, or a group the server does not know.
    pub fn stats(&mut self, group: &[u8]) -> Result<Vec<(String, String)>> {
        let mut out = BytesMut::new();
        Batch::new(&mut out, 1).stat(group);
        write_all(&mut self.transport, &out)?;
        let mut stats = Vec::new();
        loop {
            let r = self.next()?;
            if r.opcode != Opcode::STAT {
                return Err(unmatched(&r));
            }
            if !r.status.is_success() {
                return Err(Error::Rejected {
                    opcode: Opcode::STAT,
                    key: String::from_utf8_lossy(group).into_owned(),
                    status: r.status,
                });
            }
            if r.key.is_empty() {
                return Ok(stats);
            }
            stats.push((
                String::from_utf8_lossy(&r.key).into_owned(),
                String::from_utf8_lossy(&r.value).into_owned(),
            ));
        }
    }
}

fn key_of(keys: &[Bytes], opaque: u32, r: &Response) -> Result<Bytes> {
    opaque.checked_sub(1).and_then(|i| keys.get(i as usize)).cloned().ok_or_else(|| unmatched(r))
}

fn unmatched(r: &Response) -> Error {
    Error::Unexpected {
        offset: 0,
        what: format!("{} reply with opaque {} matches no request", r.opcode, r.opaque),
    }
}

fn refused(r: &Response, key: &[u8]) -> Error {
    Error::Rejected {
        opcode: r.opcode,
        key: String::from_utf8_lossy(key).into_owned(),
        status: r.status,
    }
}
