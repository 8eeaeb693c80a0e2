//! Recognition core: photo bytes -> decoded image -> embedding (ONNX Runtime) ->
//! shortlist (FAISS) -> a decision about which exhibit the photo shows.
//!
//! This crate also owns the on-disk *bundle* format (see [`bundle`]): the only
//! thing the index builder writes and the server reads.
//!
//! Invariants:
//! - no network I/O, and no knowledge of HTTP, Redis, WeChat or config files:
//!   callers pass typed settings in;
//! - every public operation is safe to call from many threads at once
//!   ([`Embedder`] pools ONNX sessions, [`VectorIndex`] searches through `&self`);
//! - a [`Bundle`] is immutable once loaded; a new version is a new `Bundle`.

pub mod bundle;
pub mod embedder;
pub mod error;
mod ffi;
pub mod index;
pub mod local;
pub mod model;
pub mod preprocess;
pub mod projection;
pub mod recognize;

pub use bundle::{Bundle, BundleManifest, ExhibitRecord, VectorEntry};
pub use embedder::{Embedder, EmbedderSettings};
pub use error::{Error, Result};
pub use index::{IndexChoice, VectorIndex};
pub use model::ModelManifest;
pub use preprocess::{DecodeLimits, decode_image};
pub use projection::Projection;
pub use recognize::{Candidate, Crop, Decision, ExhibitKey, Recognition, Recognizer, RecognizerSettings};

/// Computes the lowercase hex sha256 of a file, streaming it.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Lowercase hex sha256 of a byte slice.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}
