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
    /// How recognition should use this model, where it differs from the
    /// defaults (which were measured with SSCD): a weaker embedding needs
    /// the keypoint vote, for instance.
    #[serde(default, skip_serializing_if = "RecognitionHints::is_empty")]
    pub recognition: RecognitionHints,
}

/// Per-model pipeline settings (EVALUATION.md, "The global model").
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecognitionHints {
    /// Photo keypoints that vote over every catalog keypoint for images to
    /// verify ([`crate::local::LocalSettings::voters`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voters: Option<usize>,
    /// Best-against-second inlier factor calibration records (0: off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inlier_lead: Option<f32>,
}

impl RecognitionHints {
    pub fn is_empty(&self) -> bool {
        self.voters.is_none() && self.inlier_lead.is_none()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Name of the graph input.
    pub name: String,
    /// Element type of the input tensor: `f32` (normalised here with
    /// `scale`, `mean` and `std`) or `u8` (raw pixels; the graph normalises).
    #[serde(default)]
    pub dtype: InputType,
    /// Tensor layout of the input.
    pub layout: Layout,
    /// Fixed input size: the image is resized to exactly `width` x `height`.
    /// Give both, or `short_side` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Any-size input (fully convolutional graphs): the image keeps its
    /// aspect ratio and its short side becomes this many pixels...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_side: Option<u32>,
    /// ...with the long side capped at this many pixels (a panorama costs no
    /// more than this; the image is squeezed along its long side past it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_long_side: Option<u32>,
    /// Channel order of the input.
    #[serde(default = "default_channels")]
    pub channels: ChannelOrder,
    /// Pixel values are divided by `scale` before mean/std normalisation (`f32` only).
    #[serde(default = "default_scale")]
    pub scale: f32,
    #[serde(default = "default_mean")]
    pub mean: [f32; 3],
    #[serde(default = "default_std")]
    pub std: [f32; 3],
}

impl InputSpec {
    /// The (width, height) an image of `width` x `height` is resized to.
    pub fn target_size(&self, width: u32, height: u32) -> (u32, u32) {
        match (self.width, self.height, self.short_side) {
            (Some(w), Some(h), _) => (w, h),
            (_, _, Some(short)) => {
                let (w, h) = (width.max(1) as f64, height.max(1) as f64);
                let long = |a: f64, b: f64| {
                    let v = (f64::from(short) * a / b).round() as u32;
                    v.clamp(short, self.max_long_side.unwrap_or(u32::MAX).max(short))
                };
                if w >= h { (long(w, h), short) } else { (short, long(h, w)) }
            }
            // `ModelManifest::load` refuses manifests with neither.
            _ => (width, height),
        }
    }
}

fn default_channels() -> ChannelOrder {
    ChannelOrder::Rgb
}
fn default_scale() -> f32 {
    255.0
}
fn default_mean() -> [f32; 3] {
    [0.0; 3]
}
fn default_std() -> [f32; 3] {
    [1.0; 3]
}

/// Element type of the model's image input.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    #[default]
    F32,
    U8,
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
        let input = &manifest.input;
        let fixed = match (input.width, input.height) {
            (Some(_), Some(_)) => true,
            (None, None) => false,
            _ => return Err(err("give both input width and height, or neither".into())),
        };
        let sizes = [input.width, input.height, input.short_side, input.max_long_side];
        if manifest.dim == 0 || fixed == input.short_side.is_some() || sizes.contains(&Some(0)) {
            return Err(err(
                "dim and sizes must be positive, and the input needs either width and height or short_side".into(),
            ));
        }
        if input.max_long_side.is_some_and(|m| m < input.short_side.unwrap_or(0)) {
            return Err(err("max_long_side must not be below short_side".into()));
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
    fn any_size_inputs_keep_the_aspect_ratio() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        let write = |input: &str| {
            std::fs::write(
                &path,
                format!(r#"{{"id":"m","file":"m.onnx","sha256":"00","dim":4,"input":{input},"output":{{"name":"y","pooling":"none"}}}}"#),
            )
            .unwrap();
            ModelManifest::load(&path)
        };
        let m = write(r#"{"name":"image","dtype":"u8","layout":"nhwc","short_side":288,"max_long_side":512}"#).unwrap();
        assert_eq!(m.input.dtype, InputType::U8);
        assert_eq!(m.input.target_size(1280, 960), (384, 288));
        assert_eq!(m.input.target_size(600, 800), (288, 384));
        assert_eq!(m.input.target_size(4000, 1000), (512, 288), "long side capped");
        assert_eq!(m.input.target_size(100, 100), (288, 288), "small images are enlarged");
        // Neither a fixed size nor a short side, both, or half a fixed size: refused.
        assert!(write(r#"{"name":"i","layout":"nhwc"}"#).is_err());
        assert!(write(r#"{"name":"i","layout":"nhwc","width":8,"height":8,"short_side":8}"#).is_err());
        assert!(write(r#"{"name":"i","layout":"nhwc","width":8}"#).is_err());
        assert!(write(r#"{"name":"i","layout":"nhwc","short_side":288,"max_long_side":100}"#).is_err());
        assert!(write(r#"{"name":"i","layout":"nhwc","short_side":0}"#).is_err());
        assert!(write(r#"{"name":"i","layout":"nhwc","width":0,"height":0,"short_side":8}"#).is_err());
        let fixed = write(r#"{"name":"i","layout":"nchw","width":224,"height":224}"#).unwrap();
        assert!(fixed.recognition.is_empty());
        assert_eq!(fixed.input.target_size(1280, 960), (224, 224));
        assert_eq!(fixed.input.dtype, InputType::F32);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        std::fs::write(&path, r#"{"id":"m","file":"m.onnx","sha256":"00","dim":4,"typo":1}"#).unwrap();
        assert!(ModelManifest::load(&path).is_err());
    }
}
