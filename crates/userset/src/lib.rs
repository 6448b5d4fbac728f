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

pub use build::{BuildStats, CheckStats, Progress, build_file, check_file, for_each_line};
pub use error::Error;
pub use set::{MAX_NAME_LEN, SetStats, UserSet};
