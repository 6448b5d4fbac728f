//! userset (draft).
mod bits;
mod build;
mod error;
mod fc;
pub mod file;
pub mod generate;
mod glibc_rand;
mod pef;
mod set;

pub use build::{BuildStats, Progress, build_file};
pub use error::Error;
pub use set::{MAX_NAME_LEN, SetStats, UserSet};
