//! mammoth's memcached wire codec.
//!
//! This is **mammoth's own crate** (`crates/memcache` in the mammoth
//! workspace), not the `memcache` client crate on crates.io.
//!
//! It turns bytes into typed requests and responses and back, for servers
//! and for clients, with no sockets, no async runtime and no store: the
//! caller reads into a [`bytes::BytesMut`] and writes what the codec
//! appends to another. [`binary`] is the memcached binary protocol with
//! every opcode of our spec, quiet pipelines and membase's TAP stream;
//! [`text`] is the ASCII and meta protocols; [`sasl`] reads the users file
//! that SASL PLAIN logins (and bucket names) come from.
//!
//! # Design
//!
//! **Two-phase parsing.** [`binary::check_request`] looks at the start of a
//! buffer and says *incomplete* (and how many bytes it wants), *complete,
//! N bytes*, or why the packet is refused. It reads only the 24-byte header,
//! allocates nothing, and never claims more bytes than it was given. Then
//! [`binary::Request::parse`] builds the typed request from
//! `buf.split_to(n).freeze()`, so keys and values are [`bytes::Bytes`] slices
//! of the read buffer: zero-copy from socket to store.
//! [`binary::RequestDecoder`] does both in one call.
//!
//! **The header decides the connection's fate**, as in memcached: bad magic,
//! inconsistent lengths, an absurd body, a key over 250 bytes and a
//! malformed command close the connection ([`binary::ProtocolError::closes`]);
//! an unknown opcode or an oversized value is answered and skipped without
//! buffering its body ([`binary::ProtocolError::skip`]).
//!
//! **Replies are heads.** [`binary::Reply`] appends a response header (plus
//! extras and key) to a `BytesMut`; the value is sent after it, so a server
//! can write header and stored value in one vectored write without copying
//! the value. Quiet suppression is applied by the reply writers.
//!
//! # Example
//!
//! A server decodes a pipelined GETKQ…NOOP and a SETQ, and answers:
//!
//! ```
//! use bytes::{BufMut, BytesMut};
//! use memcache::binary::{Batch, Command, Limits, RequestDecoder, ResponseDecoder, read_batch_replies};
//!
//! // The client side: a quiet pipeline in one buffer.
//! let mut wire = BytesMut::new();
//! let mut batch = Batch::new(&mut wire, 1);
//! batch.setq(b"greeting", b"hello", 0xcafe, 0);
//! batch.getkq(b"greeting");
//! batch.getkq(b"missing");
//! let end = batch.noop();
//!
//! // The server side.
//! let mut decoder = RequestDecoder::new(Limits::default());
//! let mut out = BytesMut::new();
//! let mut stored = None;
//! while let Some(req) = decoder.decode(&mut wire).expect("well-formed") {
//!     let reply = req.reply();
//!     match req.command {
//!         Command::Store { key, value, flags, .. } => {
//!             stored = Some((key, value, flags));
//!             reply.ok(&mut out, 1); // SETQ: success is not sent
//!         }
//!         Command::Get { key } => match &stored {
//!             Some((k, v, flags)) if *k == key => {
//!                 reply.hit(&mut out, *flags, 1, &key, v.len());
//!                 out.put_slice(v); // or a separate IoSlice
//!             }
//!             _ => {
//!                 reply.miss(&mut out, &key); // GETKQ: a miss is not sent
//!             }
//!         },
//!         Command::Noop => {
//!             reply.ok(&mut out, 0);
//!         }
//!         _ => unreachable!(),
//!     }
//! }
//!
//! // Back on the client: one hit, then the NOOP ends the batch.
//! let mut hits = Vec::new();
//! let done = read_batch_replies(&mut ResponseDecoder::default(), &mut out, end, |r| hits.push(r))
//!     .expect("well-formed");
//! assert!(done);
//! assert_eq!(hits.len(), 1);
//! assert_eq!((&hits[0].key[..], &hits[0].value[..]), (&b"greeting"[..], &b"hello"[..]));
//! assert_eq!(hits[0].flags(), Some(0xcafe));
//! ```

pub mod binary;
pub mod ops;
pub mod sasl;
mod skip;
pub mod text;
