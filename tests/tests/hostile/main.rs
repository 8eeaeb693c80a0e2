//! Hostile input at the parsers (issue 15, point 4): every parser that reads
//! bytes a visitor, a museum or a child process controls gets inputs that are
//! generated, or real inputs mutated (bits flipped, bytes set, inserted,
//! deleted, chunks copied, truncated), for a time budget per target.
//!
//! Coverage-guided fuzzing (cargo-fuzz, libFuzzer) needs a nightly compiler's
//! sanitizer flags, and the pinned toolchain is stable; these are property
//! tests with proptest instead, seeded from real files the way a fuzzer's
//! corpus is. Each target asserts what must hold for *every* input: no panic,
//! and the parser's own promise (every record gets a verdict; nothing is
//! unpacked outside its folder; a decoded image is within its limits; an
//! event read back is the event written).
//!
//! `FUZZ_SECONDS` (default 2) is each target's budget; every run prints
//! `fuzz <target>: N executions, 0 findings`. Inputs are generated from fixed
//! seeds, batch by batch, so a run is reproducible; a failure is shrunk to a
//! minimal input and printed, to become a regression test in `regressions.rs`.
//! `scripts/fuzz.sh` runs every target for a longer budget.

#![allow(clippy::unwrap_used)]

mod mutate;
mod regressions;
mod targets;
