//! # extent — a zero-copy byte string of shared blocks
//!
//! TODO docs
#![forbid(unsafe_code)]

mod buf;
mod cmp;
mod cursor;
mod error;
mod iter;
mod node;
mod tree;
mod writer;

pub use buf::{ExtentBuf, IOV_MAX};
pub use cursor::Cursor;
pub use error::ExtentError;
pub use iter::{Chunks, Extents, IntoExtents};
pub use writer::{DEFAULT_EXTENT_SIZE, ExtentWriter};

#[cfg(test)]
mod tests;
