//! Executing an operation against the connection's store. Both protocol
//! front ends (`conn.rs` for binary, `text.rs` for text and meta) decode a
//! request, call one of these, and encode the outcome; here every mutation's
//! seqno is recorded, so the reply that acknowledges it waits until it is
//! durable (persist-before-ack) and no handler can forget to.

use store::{Counter, Hit, Mutation, OpError, Write};

use crate::conn::Conn;

impl Conn<'_> {
    /// SET, ADD, REPLACE, APPEND or PREPEND.
    pub(crate) fn exec_write(&mut self, write: Write) -> Result<Mutation, OpError> {
        if write.key.starts_with(crate::functions::LIB_PREFIX) {
            return self.lua_write(write);
        }
        if self.fn_key(&write.key) {
            // Only a plain SET of a function key is a call (handled before
            // here): no item may be created under the prefix, or a mirror
            // would run the function when it copies the item.
            return Err(OpError::NotStored);
        }
        let m = self.store.write(write)?;
        self.mutated(m.seqno);
        Ok(m)
    }

    /// DELETE with an optional CAS check (0: none).
    pub(crate) fn exec_delete(&mut self, key: &[u8], cas: u64) -> Result<Mutation, OpError> {
        let m = if key.starts_with(crate::functions::LIB_PREFIX) {
            self.lua_delete_key(key, cas)?
        } else {
            self.store.delete(key, cas)?
        };
        self.mutated(m.seqno);
        Ok(m)
    }

    /// INCR or DECR: the new value and the mutation.
    pub(crate) fn exec_arith(&mut self, counter: Counter) -> Result<(u64, Mutation), OpError> {
        if counter.key.starts_with(crate::functions::LIB_PREFIX) || self.fn_key(&counter.key) {
            return Err(OpError::NotFound);
        }
        let (value, m) = self.store.arith(counter)?;
        self.mutated(m.seqno);
        Ok((value, m))
    }

    /// TOUCH (and the touch half of GAT): the item as it is now.
    pub(crate) fn exec_touch(&mut self, key: &[u8], exptime: u32) -> Result<Hit, OpError> {
        // A library never expires.
        if key.starts_with(crate::functions::LIB_PREFIX) {
            return Err(OpError::NotFound);
        }
        let (hit, m) = self.store.touch(key, exptime)?;
        self.mutated(m.seqno);
        Ok(hit)
    }

    /// GET, or GAT when `touch` carries a new expiration. While writes
    /// cannot be made durable a GAT reads without touching: reads go on.
    pub(crate) fn exec_get(&mut self, key: &[u8], touch: Option<u32>) -> Option<Hit> {
        match touch {
            None => self.store.get(key),
            Some(exptime) => match self.exec_touch(key, exptime) {
                Ok(hit) => Some(hit),
                Err(OpError::Unwritable) => self.store.get(key),
                Err(_) => None,
            },
        }
    }

    /// FLUSH, now or after `delay` (a protocol expiration).
    pub(crate) fn exec_flush(&mut self, delay: u32) {
        let seqno = self.store.flush(delay);
        self.mutated(seqno);
        self.lua_flushed(delay);
    }

    /// Whether `key` is under the `@fn:` prefix (calls, never items).
    pub(crate) fn fn_key(&self, key: &[u8]) -> bool {
        let prefix = &self.shared.config.lua.key_prefix;
        !prefix.is_empty() && key.starts_with(prefix)
    }
}
