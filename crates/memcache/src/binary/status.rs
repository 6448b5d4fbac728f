//! Response status codes (header bytes 6–7 of a response) and the short
//! messages memcached puts in the body of an error reply.

use std::fmt;

/// A response status. A newtype over the wire value, so a status the codec
/// does not know still decodes (Couchbase servers send many more).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Status(pub u16);

macro_rules! statuses {
    ($($name:ident = $v:literal;)*) => {
        impl Status {
            $(
                #[doc = concat!("`", stringify!($name), "` (", stringify!($v), ").")]
                pub const $name: Status = Status($v);
            )*

            /// The spec's name of this status, or `None` when unknown.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($v => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

statuses! {
    SUCCESS = 0x0000;
    KEY_ENOENT = 0x0001;
    KEY_EEXISTS = 0x0002;
    E2BIG = 0x0003;
    EINVAL = 0x0004;
    NOT_STORED = 0x0005;
    DELTA_BADVAL = 0x0006;
    NOT_MY_VBUCKET = 0x0007;
    NO_BUCKET = 0x0008;
    AUTH_ERROR = 0x0020;
    AUTH_CONTINUE = 0x0021;
    ERANGE = 0x0022;
    UNKNOWN_COMMAND = 0x0081;
    ENOMEM = 0x0082;
    NOT_SUPPORTED = 0x0083;
    EINTERNAL = 0x0084;
    EBUSY = 0x0085;
    ETMPFAIL = 0x0086;
}

impl Status {
    /// Whether this is `SUCCESS`.
    pub const fn is_success(self) -> bool {
        self.0 == 0
    }

    /// The human-readable body memcached sends with this status when the
    /// reply has nothing else to carry (the strings of `write_bin_error` in
    /// memcached's `proto_bin.c`; the Couchbase codes get short messages of
    /// our own). Clients must not parse it. Empty for `SUCCESS`.
    pub const fn message(self) -> &'static str {
        match self {
            Status::SUCCESS | Status::AUTH_CONTINUE => "",
            Status::KEY_ENOENT => "Not found",
            Status::KEY_EEXISTS => "Data exists for key.",
            Status::E2BIG => "Too large.",
            Status::EINVAL => "Invalid arguments",
            Status::NOT_STORED => "Not stored.",
            Status::DELTA_BADVAL => "Non-numeric server-side value for incr or decr",
            Status::AUTH_ERROR => "Auth failure.",
            Status::UNKNOWN_COMMAND => "Unknown command",
            Status::ENOMEM => "Out of memory",
            Status::NOT_MY_VBUCKET => "Not my vbucket",
            Status::NO_BUCKET => "No bucket",
            Status::ERANGE => "Out of range",
            Status::NOT_SUPPORTED => "Not supported",
            Status::EINTERNAL => "Internal error",
            Status::EBUSY => "Busy",
            Status::ETMPFAIL => "Temporary failure",
            _ => "Unknown error",
        }
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}"),
            None => write!(f, "Status({:#06x})", self.0),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n} ({:#06x})", self.0),
            None => write!(f, "status {:#06x}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_messages_match_memcached() {
        // protocol_binary.h and proto_bin.c write_bin_error.
        assert_eq!(Status::E2BIG.0, 3);
        assert_eq!(Status::DELTA_BADVAL.0, 6);
        assert_eq!(Status::AUTH_CONTINUE.0, 0x21);
        assert_eq!(Status::ENOMEM.0, 0x82);
        assert_eq!(Status::ETMPFAIL.0, 0x86);
        assert_eq!(Status::KEY_ENOENT.message(), "Not found");
        assert_eq!(Status::KEY_EEXISTS.message(), "Data exists for key.");
        assert_eq!(Status::NOT_STORED.message(), "Not stored.");
        assert_eq!(Status::UNKNOWN_COMMAND.message(), "Unknown command");
        assert_eq!(Status::AUTH_ERROR.message(), "Auth failure.");
        assert_eq!(
            Status::DELTA_BADVAL.message(),
            "Non-numeric server-side value for incr or decr"
        );
        assert_eq!(format!("{:?}", Status(0x99)), "Status(0x0099)");
        assert_eq!(format!("{}", Status::EINVAL), "EINVAL (0x0004)");
    }
}
