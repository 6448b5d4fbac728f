//! userset (draft).
pub mod generate;
mod glibc_rand;
