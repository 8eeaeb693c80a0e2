//! Index builder: reads a collection (records + images), validates it, embeds
//! every image, and writes an immutable, versioned bundle, then publishes it.
//!
//! Invariants: this is the only writer of bundles (`store`; the server does
//! not depend on this crate); one builder at a time changes a museum's
//! bundles (an OS file lock per museum), and a change publishes only over
//! the version it started from; a failed or killed build never touches the
//! published bundle (the new version only appears by rename, and `CURRENT`
//! only changes after it has been fully written).

pub mod build;
pub mod calibrate;
pub mod collection;
pub mod eval;
pub mod media;
pub mod store;
pub mod update;

pub use build::{BuildOptions, BuildReport, Progress, build_bundle};
pub use collection::{Collection, RecordIssue, ValidationReport, load_collection};
pub use update::{ChangeOptions, ChangeReport, apply_changes};
pub mod fetch;
pub mod iiif;
pub mod import;
