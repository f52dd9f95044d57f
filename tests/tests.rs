//! The integration test suite: one binary (one link of SQLite and the
//! harness), one module per theme. Run with `cargo test --release`.

mod common;

mod bench_smoke;
mod cleanup;
mod concurrency;
mod docs;
mod hostile;
mod html;
mod index;
mod interrupts;
mod lastuse;
mod output;
mod report;
mod s3;
mod safety;
mod trash;
