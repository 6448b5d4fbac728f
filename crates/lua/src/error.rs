//! The crate's error types: one per operation family.

use std::fmt;

/// Why [`Libraries::load`](crate::Libraries::load) refused a library.
/// `Display` is one line a client can be shown as is (`CLIENT_ERROR …`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadError {
    /// The library name is empty or not printable ASCII without spaces.
    BadName {
        /// The name given.
        name: String,
    },
    /// The source does not compile, or its top-level code failed (an
    /// undeclared global, a function another library defines, a runtime
    /// error, the time or memory limit).
    /// `message` is Lua's, with the chunk name and line number
    /// (`lib:3: ...`).
    Compile {
        /// The library.
        lib: String,
        /// Lua's message, with the line number.
        message: String,
    },
    /// The library declares no function.
    Empty {
        /// The library.
        lib: String,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::BadName { name } => write!(f, "bad library name {name:?}"),
            LoadError::Compile { message, .. } => f.write_str(message),
            LoadError::Empty { lib } => write!(f, "library '{lib}' declares no function"),
        }
    }
}

impl std::error::Error for LoadError {}

/// Why a [`Call`](crate::Call) failed. `Display` is one line a client can
/// be shown as is (`SERVER_ERROR …`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallError {
    /// No loaded library defines the function.
    UnknownFunction {
        /// The name asked for.
        function: String,
    },
    /// The function raised an error (its own `error(...)`, a bad
    /// operation, an `mc` call on an undeclared key, a store failure such
    /// as a full memory quota). `message` is Lua's, with the line number.
    Runtime {
        /// Lua's message.
        message: String,
    },
    /// The call ran longer than its time limit (Lua execution time, not
    /// time spent waiting for key locks or a VM).
    TimeLimit {
        /// The limit, in milliseconds.
        limit_ms: u64,
    },
    /// The call allocated more than its memory limit.
    MemoryLimit {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The function returned a value that has no byte form (a table, a
    /// function…); see the crate docs for the rule.
    BadReturn {
        /// The Lua type returned.
        type_name: &'static str,
    },
    /// A Lua VM could not be built (an internal error).
    Vm {
        /// What failed.
        message: String,
    },
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::UnknownFunction { function } => write!(f, "unknown function '{function}'"),
            CallError::Runtime { message } => f.write_str(message),
            CallError::TimeLimit { limit_ms } => write!(f, "time limit of {limit_ms} ms exceeded"),
            CallError::MemoryLimit { limit } => write!(f, "memory limit of {limit} bytes exceeded"),
            CallError::BadReturn { type_name } => {
                write!(f, "function returned a {type_name}, which has no byte form")
            }
            CallError::Vm { message } => write!(f, "lua vm: {message}"),
        }
    }
}

impl std::error::Error for CallError {}

/// The text of a Lua error without mlua's wrapping: the innermost cause's
/// message, without the Rust-side traceback.
pub(crate) fn lua_message(err: &mlua::Error) -> String {
    match err {
        mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => {
            lua_message(cause)
        }
        mlua::Error::SyntaxError { message, .. }
        | mlua::Error::RuntimeError(message)
        | mlua::Error::MemoryError(message) => {
            // mlua appends a traceback to runtime errors; the first line
            // (with the chunk and line number) is the message.
            message.split("\nstack traceback:").next().unwrap_or(message).to_owned()
        }
        other => other.to_string(),
    }
}

/// True when `err` is (or wraps) Lua's out-of-memory error.
pub(crate) fn is_memory_error(err: &mlua::Error) -> bool {
    match err {
        mlua::Error::MemoryError(_) => true,
        mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => {
            is_memory_error(cause)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_line_without_the_cause_twice() {
        let e = CallError::TimeLimit { limit_ms: 100 };
        assert_eq!(e.to_string(), "time limit of 100 ms exceeded");
        let e = LoadError::Empty { lib: "a".into() };
        assert_eq!(e.to_string(), "library 'a' declares no function");
    }

    #[test]
    fn messages_are_unwrapped() {
        let inner = mlua::Error::RuntimeError("lib:3: boom".into());
        let wrapped = mlua::Error::CallbackError {
            traceback: "tb".into(),
            cause: std::sync::Arc::new(inner),
        };
        assert_eq!(lua_message(&wrapped), "lib:3: boom");
        assert!(is_memory_error(&mlua::Error::MemoryError("x".into())));
        assert!(!is_memory_error(&wrapped));
    }
}
