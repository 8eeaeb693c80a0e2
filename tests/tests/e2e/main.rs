//! The real-component tier, as one test binary: the real model (ONNX
//! Runtime), real FAISS bundles, a real `redis-server`, real HTTP and the
//! release `index-builder` binary. The demo bundle is built once for all of
//! it ([`common::demo`]); servers are spawned with [`common::TestApp`].
//!
//! Not built by a plain `cargo test` (it needs `scripts/setup.sh`'s
//! environment and `cargo build --release --bins`): `scripts/test.sh` runs
//! it, or by hand
//!
//! ```sh
//! eval "$(bash scripts/setup.sh env)" && cargo build --release --locked --bins
//! cargo test --release --locked -p e2e --features e2e
//! ```

#![allow(clippy::unwrap_used)]

mod browser;
mod common;
mod console;

mod admin;
mod api;
mod console_api;
mod eval;
mod media;
mod miniprogram;
mod models;
mod object_storage;
mod recognition;
mod search;
mod web;
