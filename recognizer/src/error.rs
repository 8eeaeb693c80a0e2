//! The one error type of the crate, with structured fields so callers can map
//! each kind to a stable API error code without parsing messages.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not an image in a format we decode.
    #[error("not a decodable image: {reason}")]
    InvalidImage { reason: String },
    /// The image header announces more pixels than allowed (decompression-bomb guard).
    #[error("image is {width}x{height} pixels, more than the limit of {max_pixels}")]
    ImageTooLarge { width: u32, height: u32, max_pixels: u64 },
    /// The image is too small to recognise anything in.
    #[error("image is {width}x{height} pixels, smaller than {min_side} px on a side")]
    ImageTooSmall { width: u32, height: u32, min_side: u32 },
    /// Local features (keypoints and descriptors) that do not belong together.
    #[error("invalid local features: {reason}")]
    InvalidFeatures { reason: String },
    #[error("model manifest {path}: {reason}")]
    Model { path: PathBuf, reason: String },
    #[error("onnx runtime: {0}")]
    Runtime(String),
    /// An OpenCV call failed (keypoints, matching, homography, JPEG decoding).
    #[error("opencv: {0}")]
    OpenCv(String),
    #[error("faiss: {0}")]
    Faiss(String),
    /// A museum's bundle root has no published version (no `CURRENT`).
    #[error("no bundle published yet under {}", root.display())]
    NotPublished { root: PathBuf },
    /// A bundle on disk is missing, corrupt, or does not fit the model in use.
    #[error("bundle {path}: {reason}")]
    Bundle { path: PathBuf, reason: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }

    pub(crate) fn bundle(path: impl Into<PathBuf>, reason: impl Into<String>) -> Error {
        Error::Bundle { path: path.into(), reason: reason.into() }
    }
}

impl From<faiss::error::Error> for Error {
    fn from(e: faiss::error::Error) -> Self {
        Error::Faiss(e.to_string())
    }
}

impl From<ort::Error> for Error {
    fn from(e: ort::Error) -> Self {
        Error::Runtime(e.to_string())
    }
}
