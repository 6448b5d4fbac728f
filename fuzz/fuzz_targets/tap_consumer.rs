//! The TAP consumer over an arbitrary byte stream (cut into reads of
//! arbitrary sizes), and the export layout decoder: errors, never panics
//! or hangs.
#![no_main]

use std::io::{self, Read, Write};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use memcache::binary::tap::{TapConnect, TapFlags};
use tap::{Consumer, ConsumerOptions, Poll, Transport};

struct Script<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Script<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.step.min(self.data.len()).min(buf.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

impl Write for Script<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Script<'_> {
    fn set_read_timeout(&mut self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = tap::layout::decode(data);
    let Some((&step, rest)) = data.split_first() else { return };
    let script = Script { data: rest, step: usize::from(step).max(1) };
    let connect = TapConnect::new(&b"fuzz"[..]).with(TapFlags::SEQNO_META | TapFlags::SUPPORT_ACK);
    let mut opts = ConsumerOptions::new(connect);
    opts.max_body_len = 1 << 20;
    let Ok(mut c) = Consumer::start(script, &opts) else { return };
    // Each successful poll consumes at least one packet, so this ends.
    for _ in 0..=rest.len() {
        match c.poll(Duration::from_millis(1)) {
            Ok(Poll::Item(d)) => {
                if let Some(a) = d.ack {
                    let _ = c.ack(a);
                }
            }
            Ok(Poll::Idle) => {}
            Ok(Poll::End) | Err(_) => return,
        }
    }
});
