//! The model manifest: which ONNX file to load and how to feed and read it.
//!
//! Keeping preprocessing and pooling in data (not code) lets an operator plug in
//! another ONNX model by writing a new manifest. The manifest's `sha256` pins the
//! exact file; bundles record it, and a bundle built with another model is refused.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelManifest {
    /// Stable identifier recorded in every bundle built with this model.
    pub id: String,
    /// ONNX file, relative to the manifest's folder.
    pub file: PathBuf,
    /// sha256 of the ONNX file; checked when the model loads.
    pub sha256: String,
    /// Embedding dimension after pooling.
    pub dim: usize,
    pub input: InputSpec,
    pub output: OutputSpec,
    /// Where the model came from and under which licence (informational).
    #[serde(default)]
    pub source: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Name of the graph input.
    pub name: String,
    /// Tensor layout of the input.
    pub layout: Layout,
    /// Width and height the image is resized to.
    pub width: u32,
    pub height: u32,
    /// Channel order of the input.
    #[serde(default = "default_channels")]
    pub channels: ChannelOrder,
    /// Pixel values are divided by `scale` before mean/std normalisation.
    #[serde(default = "default_scale")]
    pub scale: f32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

fn default_channels() -> ChannelOrder {
    ChannelOrder::Rgb
}
fn default_scale() -> f32 {
    255.0
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Nchw,
    Nhwc,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOrder {
    Rgb,
    Bgr,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// Name of the graph output holding the features.
    pub name: String,
    /// How a [B, T, D] token tensor becomes one vector; `none` for [B, D] outputs.
    pub pooling: Pooling,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// The output is already [B, D].
    None,
    /// Token 0 (the CLS token) of a [B, T, D] output.
    Cls,
    /// Mean of all tokens of a [B, T, D] output.
    Mean,
}

impl ModelManifest {
    /// Reads a manifest and resolves its model path; does not touch the model file.
    pub fn load(path: &Path) -> Result<Self> {
        let err = |reason: String| Error::Model { path: path.to_owned(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let mut manifest: ModelManifest = serde_json::from_str(&text).map_err(|e| err(format!("invalid json: {e}")))?;
        if manifest.file.is_relative() {
            let dir = path.parent().unwrap_or(Path::new("."));
            manifest.file = dir.join(&manifest.file);
        }
        if manifest.dim == 0 || manifest.input.width == 0 || manifest.input.height == 0 {
            return Err(err("dim, width and height must be positive".into()));
        }
        Ok(manifest)
    }

    /// Checks that the model file exists and has the pinned sha256.
    pub fn verify_file(&self) -> Result<()> {
        let actual = crate::sha256_file(&self.file).map_err(|e| Error::Model {
            path: self.file.clone(),
            reason: format!("cannot read model file: {e} (run scripts/setup.sh model)"),
        })?;
        if actual != self.sha256 {
            return Err(Error::Model {
                path: self.file.clone(),
                reason: format!("sha256 is {actual}, manifest pins {}", self.sha256),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_model_path_resolves_next_to_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        std::fs::write(
            &path,
            r#"{"id":"m","file":"m.onnx","sha256":"00","dim":4,
                "input":{"name":"x","layout":"nchw","width":8,"height":8,"mean":[0,0,0],"std":[1,1,1]},
                "output":{"name":"y","pooling":"cls"}}"#,
        )
        .unwrap();
        let m = ModelManifest::load(&path).unwrap();
        assert_eq!(m.file, dir.path().join("m.onnx"));
        assert_eq!(m.input.channels, ChannelOrder::Rgb);
        // The file does not exist: verification must fail, not pass silently.
        assert!(matches!(m.verify_file(), Err(Error::Model { .. })));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        std::fs::write(&path, r#"{"id":"m","file":"m.onnx","sha256":"00","dim":4,"typo":1}"#).unwrap();
        assert!(ModelManifest::load(&path).is_err());
    }
}
