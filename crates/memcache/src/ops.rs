//! The operations' vocabulary, one for every layer: the binary and text
//! codecs decode into it, and mammoth's store executes it. SET, ADD,
//! REPLACE, APPEND and PREPEND are one [`StoreMode`] whatever the protocol
//! spelled; INCR and DECR are one [`Arith`].

/// How a store request treats the item already there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoreMode {
    /// Store unconditionally (`set`, SET, `ms MS`).
    Set,
    /// Store only if absent (`add`, ADD, `ms ME`).
    Add,
    /// Store only if present (`replace`, REPLACE, `ms MR`).
    Replace,
    /// Put the bytes after the existing value (`append`, APPEND, `ms MA`);
    /// the item's flags and expiration stay.
    Append,
    /// Put the bytes before the existing value (`prepend`, PREPEND, `ms MP`).
    Prepend,
}

impl StoreMode {
    /// The text protocol's command name.
    pub fn command(self) -> &'static str {
        match self {
            StoreMode::Set => "set",
            StoreMode::Add => "add",
            StoreMode::Replace => "replace",
            StoreMode::Append => "append",
            StoreMode::Prepend => "prepend",
        }
    }

    /// APPEND or PREPEND: the request adds to a value rather than replacing
    /// it, so it needs the old one (and carries no flags or expiration).
    pub fn is_concat(self) -> bool {
        matches!(self, StoreMode::Append | StoreMode::Prepend)
    }
}

/// INCR or DECR of a decimal counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arith {
    /// Add, wrapping at 2^64.
    Incr,
    /// Subtract, stopping at 0.
    Decr,
}

impl Arith {
    /// The text protocol's command name.
    pub fn command(self) -> &'static str {
        match self {
            Arith::Incr => "incr",
            Arith::Decr => "decr",
        }
    }

    /// `current` changed by `delta` as memcached does.
    pub fn apply(self, current: u64, delta: u64) -> u64 {
        match self {
            Arith::Incr => current.wrapping_add(delta),
            Arith::Decr => current.saturating_sub(delta),
        }
    }
}
