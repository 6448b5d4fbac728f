//! The consumer side of TAP, membase's mutation stream (spec:
//! `docs/memcached-binary.md` §10): read a server's changes, mirror them
//! into another server, write them as Hadoop files, and load Hadoop files
//! into a server.
//!
//! | module | job |
//! |---|---|
//! | [`conn`] | blocking TCP with timeouts, SASL PLAIN, a length-checked packet reader |
//! | [`consumer`] | [`Consumer`]: `TAP_CONNECT`, typed [`Item`]s, acks when the caller says an event is applied |
//! | [`target`] | [`Target`]: SETQ / DELETEQ / FLUSHQ pipelines closed by NOOP |
//! | [`mirror`] | the restartable mirror loop (registered client, ack after the target's NOOP) |
//! | [`direct`] | [`Direct`]: GETKQ reads with CAS, CAS-guarded deletes and `STAT` groups on one node |
//! | [`rebalance`] | move the keys whose owner changes: keys-only listing, read, write, NOOP, CAS delete |
//! | [`layout`] | the record layout of exported files (`docs/tap-export.md`) |
//! | [`export`] | snapshot (SequenceFile, MapFile, BloomMapFile) and rolled live segments |
//! | [`import`] | any SequenceFile or MapFile into a server |
//!
//! Everything is blocking `std::net`: one stream is one thread, and the
//! work per event is a memcpy into a pipeline buffer.
//!
//! # Example
//!
//! A scripted producer on a local socket sends one mutation and ends the
//! stream; the consumer reads it and acks it.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::TcpListener;
//! use bytes::BytesMut;
//! use memcache::binary::tap::{Event, EventFlags, EventKind, TapConnect, TapFlags, opaque};
//! use tap::{Consumer, ConsumerOptions, Endpoint, Item};
//!
//! let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//! let addr = listener.local_addr().unwrap().to_string();
//! let producer = std::thread::spawn(move || {
//!     let (mut s, _) = listener.accept().unwrap();
//!     let mut out = BytesMut::new();
//!     let mut m = Event::mutation(1, &b"k"[..], &b"v"[..], 7, 0, 42);
//!     m.flags = m.flags | EventFlags::ACK;
//!     m.encode(&mut out);
//!     Event::control(2, &b""[..], EventKind::Opaque { code: opaque::CLOSE_TAP_STREAM }, 0)
//!         .encode(&mut out);
//!     s.write_all(&out).unwrap();
//!     // The TAP_CONNECT (24 + 4 extras + 4 name), then the 24-byte ack.
//!     let mut got = vec![0u8; 32 + 24];
//!     s.read_exact(&mut got).unwrap();
//!     got[32 + 1] // the ack's opcode
//! });
//! let connect = TapConnect::new(&b"demo"[..]).with(TapFlags::DUMP | TapFlags::SUPPORT_ACK);
//! let mut c = Consumer::connect(&Endpoint::new(addr), &ConsumerOptions::new(connect)).unwrap();
//! let d = c.next_item().unwrap().unwrap();
//! let Item::Mutation(m) = d.item else { panic!() };
//! assert_eq!((&m.key[..], &m.value[..], m.flags, m.cas), (&b"k"[..], &b"v"[..], 7, 42));
//! c.ack(d.ack.unwrap()).unwrap(); // after applying it
//! assert_eq!(c.next_item().unwrap().unwrap().item, Item::StreamEnd);
//! assert_eq!(producer.join().unwrap(), 0x41); // TAP_MUTATION
//! ```

pub mod conn;
pub mod consumer;
pub mod direct;
pub mod error;
pub mod export;
pub mod import;
pub mod layout;
pub mod mirror;
pub mod rebalance;
pub mod target;

pub use conn::{ClientTls, Credentials, Endpoint, Stream, Transport};
pub use consumer::{Ack, Consumer, ConsumerOptions, Delivery, Item, Mutation, Poll};
pub use direct::{Deleted, Direct, Found};
pub use error::{Error, Result};
pub use target::{Committed, Target};
