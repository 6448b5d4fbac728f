//! Opcodes of the binary protocol: every command of the spec, its quiet twin,
//! and the TAP stream opcodes.

use std::fmt;

/// A binary-protocol opcode (header byte 1).
///
/// A newtype over the raw byte rather than an enum, so that an opcode the
/// codec does not know still round-trips (a server must echo it in its
/// `UNKNOWN_COMMAND` reply) and so that the quiet twin a client sent is kept
/// exactly: responses carry the request's opcode byte, quiet or not.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Opcode(pub u8);

macro_rules! opcodes {
    ($($name:ident = $v:literal, $text:literal;)*) => {
        impl Opcode {
            $(
                #[doc = concat!("`", $text, "` (", stringify!($v), ").")]
                pub const $name: Opcode = Opcode($v);
            )*

            /// The spec's name of this opcode (`"GETKQ"`), or `None` when the
            /// codec does not know it.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($v => Some($text),)*
                    _ => None,
                }
            }
        }
    };
}

opcodes! {
    GET = 0x00, "GET";
    SET = 0x01, "SET";
    ADD = 0x02, "ADD";
    REPLACE = 0x03, "REPLACE";
    DELETE = 0x04, "DELETE";
    INCREMENT = 0x05, "INCREMENT";
    DECREMENT = 0x06, "DECREMENT";
    QUIT = 0x07, "QUIT";
    FLUSH = 0x08, "FLUSH";
    GETQ = 0x09, "GETQ";
    NOOP = 0x0a, "NOOP";
    VERSION = 0x0b, "VERSION";
    GETK = 0x0c, "GETK";
    GETKQ = 0x0d, "GETKQ";
    APPEND = 0x0e, "APPEND";
    PREPEND = 0x0f, "PREPEND";
    STAT = 0x10, "STAT";
    SETQ = 0x11, "SETQ";
    ADDQ = 0x12, "ADDQ";
    REPLACEQ = 0x13, "REPLACEQ";
    DELETEQ = 0x14, "DELETEQ";
    INCREMENTQ = 0x15, "INCREMENTQ";
    DECREMENTQ = 0x16, "DECREMENTQ";
    QUITQ = 0x17, "QUITQ";
    FLUSHQ = 0x18, "FLUSHQ";
    APPENDQ = 0x19, "APPENDQ";
    PREPENDQ = 0x1a, "PREPENDQ";
    VERBOSITY = 0x1b, "VERBOSITY";
    TOUCH = 0x1c, "TOUCH";
    GAT = 0x1d, "GAT";
    GATQ = 0x1e, "GATQ";
    SASL_LIST_MECHS = 0x20, "SASL_LIST_MECHS";
    SASL_AUTH = 0x21, "SASL_AUTH";
    SASL_STEP = 0x22, "SASL_STEP";
    GATK = 0x23, "GATK";
    GATKQ = 0x24, "GATKQ";
    RGET = 0x30, "RGET";
    RSET = 0x31, "RSET";
    RSETQ = 0x32, "RSETQ";
    RAPPEND = 0x33, "RAPPEND";
    RAPPENDQ = 0x34, "RAPPENDQ";
    RPREPEND = 0x35, "RPREPEND";
    RPREPENDQ = 0x36, "RPREPENDQ";
    RDELETE = 0x37, "RDELETE";
    RDELETEQ = 0x38, "RDELETEQ";
    RINCR = 0x39, "RINCR";
    RINCRQ = 0x3a, "RINCRQ";
    RDECR = 0x3b, "RDECR";
    RDECRQ = 0x3c, "RDECRQ";
    TAP_CONNECT = 0x40, "TAP_CONNECT";
    TAP_MUTATION = 0x41, "TAP_MUTATION";
    TAP_DELETE = 0x42, "TAP_DELETE";
    TAP_FLUSH = 0x43, "TAP_FLUSH";
    TAP_OPAQUE = 0x44, "TAP_OPAQUE";
    TAP_VBUCKET_SET = 0x45, "TAP_VBUCKET_SET";
    TAP_CHECKPOINT_START = 0x46, "TAP_CHECKPOINT_START";
    TAP_CHECKPOINT_END = 0x47, "TAP_CHECKPOINT_END";
    LUA_LOAD = 0x70, "LUA_LOAD";
    LUA_CALL = 0x71, "LUA_CALL";
}

/// Loud ↔ quiet pairs (spec §2). Range opcodes are left out: memcached never
/// implemented them and their twins are not part of quiet semantics.
const QUIET_PAIRS: [(Opcode, Opcode); 14] = [
    (Opcode::GET, Opcode::GETQ),
    (Opcode::GETK, Opcode::GETKQ),
    (Opcode::SET, Opcode::SETQ),
    (Opcode::ADD, Opcode::ADDQ),
    (Opcode::REPLACE, Opcode::REPLACEQ),
    (Opcode::DELETE, Opcode::DELETEQ),
    (Opcode::INCREMENT, Opcode::INCREMENTQ),
    (Opcode::DECREMENT, Opcode::DECREMENTQ),
    (Opcode::QUIT, Opcode::QUITQ),
    (Opcode::FLUSH, Opcode::FLUSHQ),
    (Opcode::APPEND, Opcode::APPENDQ),
    (Opcode::PREPEND, Opcode::PREPENDQ),
    (Opcode::GAT, Opcode::GATQ),
    (Opcode::GATK, Opcode::GATKQ),
];

/// What a quiet opcode leaves out of the reply stream (spec §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quiet {
    /// A loud opcode: every outcome is answered.
    No,
    /// GETQ, GETKQ, GATQ, GATKQ: a miss (`KEY_ENOENT`) is not answered; hits
    /// and every other error are.
    Misses,
    /// The quiet mutations and FLUSHQ: success is not answered; every
    /// failure is.
    Successes,
    /// QUITQ: nothing is answered; the server closes after flushing.
    Everything,
}

impl Opcode {
    /// The quiet twin of a loud opcode (`SET` → `SETQ`); a quiet opcode maps
    /// to itself; `None` for opcodes without a twin (NOOP, STAT, TOUCH, …).
    #[must_use]
    pub fn quiet(self) -> Option<Opcode> {
        QUIET_PAIRS
            .iter()
            .find(|(loud, quiet)| *loud == self || *quiet == self)
            .map(|&(_, quiet)| quiet)
    }

    /// The loud form (`SETQ` → `SET`); every other opcode maps to itself.
    #[must_use]
    pub fn loud(self) -> Opcode {
        // A match, not a search of the pair table: this runs for every request.
        match self {
            Opcode::GETQ => Opcode::GET,
            Opcode::GETKQ => Opcode::GETK,
            Opcode::SETQ => Opcode::SET,
            Opcode::ADDQ => Opcode::ADD,
            Opcode::REPLACEQ => Opcode::REPLACE,
            Opcode::DELETEQ => Opcode::DELETE,
            Opcode::INCREMENTQ => Opcode::INCREMENT,
            Opcode::DECREMENTQ => Opcode::DECREMENT,
            Opcode::QUITQ => Opcode::QUIT,
            Opcode::FLUSHQ => Opcode::FLUSH,
            Opcode::APPENDQ => Opcode::APPEND,
            Opcode::PREPENDQ => Opcode::PREPEND,
            Opcode::GATQ => Opcode::GAT,
            Opcode::GATKQ => Opcode::GATK,
            other => other,
        }
    }

    /// Whether this is one of the quiet twins.
    pub fn is_quiet(self) -> bool {
        self.quiet_kind() != Quiet::No
    }

    /// Which replies this opcode suppresses (spec §4).
    pub fn quiet_kind(self) -> Quiet {
        match self {
            Opcode::GETQ | Opcode::GETKQ | Opcode::GATQ | Opcode::GATKQ => Quiet::Misses,
            Opcode::SETQ
            | Opcode::ADDQ
            | Opcode::REPLACEQ
            | Opcode::DELETEQ
            | Opcode::INCREMENTQ
            | Opcode::DECREMENTQ
            | Opcode::FLUSHQ
            | Opcode::APPENDQ
            | Opcode::PREPENDQ => Quiet::Successes,
            Opcode::QUITQ => Quiet::Everything,
            _ => Quiet::No,
        }
    }

    /// Whether a successful (or GETK/GATK missing) reply carries the key:
    /// GETK, GETKQ, GATK and GATKQ.
    pub fn echoes_key(self) -> bool {
        matches!(self, Opcode::GETK | Opcode::GETKQ | Opcode::GATK | Opcode::GATKQ)
    }

    /// Whether a reply with this `status` is suppressed for this opcode.
    pub fn suppresses(self, status: crate::binary::Status) -> bool {
        match self.quiet_kind() {
            Quiet::No => false,
            Quiet::Misses => status == crate::binary::Status::KEY_ENOENT,
            Quiet::Successes => status == crate::binary::Status::SUCCESS,
            Quiet::Everything => true,
        }
    }

    /// Whether the codec knows this opcode (see [`Opcode::name`]).
    pub fn is_known(self) -> bool {
        self.name().is_some()
    }
}

impl fmt::Debug for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}"),
            None => write!(f, "Opcode({:#04x})", self.0),
        }
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n} ({:#04x})", self.0),
            None => write!(f, "opcode {:#04x}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binary::Status;

    #[test]
    fn values_match_protocol_binary_h() {
        // protocol_binary.h, protocol_binary_command.
        assert_eq!(Opcode::GETKQ.0, 0x0d);
        assert_eq!(Opcode::PREPENDQ.0, 0x1a);
        assert_eq!(Opcode::TOUCH.0, 0x1c);
        assert_eq!(Opcode::GATK.0, 0x23);
        assert_eq!(Opcode::GATKQ.0, 0x24);
        assert_eq!(Opcode::SASL_STEP.0, 0x22);
        assert_eq!(Opcode::RDECRQ.0, 0x3c);
        assert_eq!(Opcode::TAP_CHECKPOINT_END.0, 0x47);
    }

    #[test]
    fn quiet_mapping() {
        assert_eq!(Opcode::SET.quiet(), Some(Opcode::SETQ));
        assert_eq!(Opcode::SETQ.quiet(), Some(Opcode::SETQ));
        assert_eq!(Opcode::GATKQ.loud(), Opcode::GATK);
        assert_eq!(Opcode::NOOP.quiet(), None);
        assert_eq!(Opcode::NOOP.loud(), Opcode::NOOP);
        assert_eq!(Opcode(0xee).loud(), Opcode(0xee));
        for op in (0..=255u8).map(Opcode) {
            if let Some(q) = op.quiet() {
                assert!(q.is_quiet(), "{op:?}");
                assert_eq!(q.loud().quiet(), Some(q));
                assert!(!q.loud().is_quiet());
            }
        }
        let quiet = (0..=255u8).map(Opcode).filter(|o| o.is_quiet()).count();
        assert_eq!(quiet, 14);
    }

    #[test]
    fn suppression_follows_spec_section_4() {
        assert!(Opcode::GETQ.suppresses(Status::KEY_ENOENT));
        assert!(!Opcode::GETQ.suppresses(Status::SUCCESS));
        assert!(!Opcode::GETQ.suppresses(Status::EINVAL));
        assert!(Opcode::SETQ.suppresses(Status::SUCCESS));
        assert!(!Opcode::DELETEQ.suppresses(Status::KEY_ENOENT));
        assert!(!Opcode::REPLACEQ.suppresses(Status::KEY_ENOENT));
        assert!(Opcode::QUITQ.suppresses(Status::SUCCESS));
        assert!(!Opcode::GET.suppresses(Status::KEY_ENOENT));
        assert!(!Opcode::NOOP.suppresses(Status::SUCCESS));
    }

    #[test]
    fn names() {
        assert_eq!(format!("{:?}", Opcode::GATKQ), "GATKQ");
        assert_eq!(format!("{}", Opcode(0xfe)), "opcode 0xfe");
        assert_eq!(Opcode(0x25).name(), None);
    }
}
