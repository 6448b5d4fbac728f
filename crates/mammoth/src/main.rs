//! The `mammoth` command line.
fn main() {}
