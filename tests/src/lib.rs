//! End-to-end tests live in `tests/e2e/` (one test binary, behind the `e2e` feature).
