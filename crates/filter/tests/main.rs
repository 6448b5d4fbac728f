//! mammoth-filter's integration tests: one binary (one link), modules by
//! theme.
//!
//! * `model`: the language modelled apart from the crate (a tree, a
//!   printer with many spellings, an evaluator on `serde_json`) and the
//!   proptest strategies;
//! * `roundtrip`: canonical text reads back, and answers agree with the
//!   model before and after;
//! * `json_model`: the lazy JSON scanner against `serde_json` on generated
//!   documents, pointers and literals, and on broken documents;
//! * `key_ranges`: key ranges hold every match, key decisions agree with
//!   answers, `KeyRanges` set operations agree with membership;
//! * `hostile`: arbitrary and mutated text parses or fails, never panics.

mod hostile;
mod json_model;
mod key_ranges;
mod model;
mod roundtrip;
