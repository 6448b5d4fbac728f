//! mammoth's integration tests, one binary: each module below was a test
//! target of its own; one binary links once and shares its helpers.

mod cli;
mod cluster;
mod collect_cli;
mod disk_full;
mod serve_crash;
mod serve_geo;
mod serve_memory;
mod serve_peers;
mod serve_support;
mod serve_tls;
mod tap_e2e;
mod userset_cli;
