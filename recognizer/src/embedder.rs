//! ONNX Runtime inference behind a pool of sessions.
//!
//! `ort::Session::run` takes `&mut self` (since 2.0.0-rc.10), so one session
//! serves one call at a time. The pool holds `sessions` of them; callers block
//! on a condition variable until one is free. The server bounds concurrency
//! with its own queue in front of this, so the wait here stays short.

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, OnceLock};

use image::RgbImage;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;

use crate::model::{InputType, Layout, ModelManifest, Pooling};
use crate::{Error, Result, preprocess};

/// How to run the model.
#[derive(Debug, Clone)]
pub struct EmbedderSettings {
    /// Path to `libonnxruntime.so` (loaded at run time: no download at start-up).
    pub ort_library: PathBuf,
    /// Number of pooled sessions: the most inferences that run at once.
    pub sessions: usize,
    /// Threads each session may use inside one inference.
    pub intra_threads: usize,
}

/// The ONNX Runtime environment is process-wide and may be created only once.
static ENVIRONMENT: OnceLock<std::result::Result<ort::environment::Environment, String>> = OnceLock::new();

fn environment(library: &Path) -> Result<&'static ort::environment::Environment> {
    ENVIRONMENT
        .get_or_init(|| {
            let builder = ort::init_from(library)
                .map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", library.display()))?;
            builder.with_name("museum-officer").build().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::Runtime(e.clone()))
}

/// Turns images into feature vectors with the model a manifest names.
///
/// Vectors come out *raw* (pooled, not normalised): a bundle centres them on its
/// collection's mean and normalises them (see [`crate::Bundle::project`]),
/// because this model's features share a large common component that would
/// otherwise push every cosine similarity towards 1.
pub struct Embedder {
    manifest: ModelManifest,
    pool: Mutex<Vec<Session>>,
    freed: Condvar,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder").field("model", &self.manifest.id).finish_non_exhaustive()
    }
}

impl Embedder {
    /// Verifies the model file's hash, then opens `settings.sessions` sessions.
    pub fn new(manifest: ModelManifest, settings: &EmbedderSettings) -> Result<Self> {
        manifest.verify_file()?;
        let env = environment(&settings.ort_library)?;
        let mut sessions = Vec::with_capacity(settings.sessions.max(1));
        for _ in 0..settings.sessions.max(1) {
            let session = Session::builder(env)?
                .with_optimization_level(GraphOptimizationLevel::Level3)
                .map_err(ort::Error::from)?
                .with_intra_threads(settings.intra_threads.max(1))
                .map_err(ort::Error::from)?
                .with_inter_threads(1)
                .map_err(ort::Error::from)?
                // Idle pool threads sleep instead of spinning: between two
                // inferences the same request decodes, matches keypoints and
                // searches, and other requests run, on the same cores.
                .with_intra_op_spinning(false)
                .map_err(ort::Error::from)?
                .commit_from_file(&manifest.file)?;
            let has_input = session.inputs().iter().any(|i| i.name() == manifest.input.name);
            let has_output = session.outputs().iter().any(|o| o.name() == manifest.output.name);
            if !has_input || !has_output {
                return Err(Error::Model {
                    path: manifest.file.clone(),
                    reason: format!("graph lacks input `{}` or output `{}`", manifest.input.name, manifest.output.name),
                });
            }
            sessions.push(session);
        }
        Ok(Self { manifest, pool: Mutex::new(sessions), freed: Condvar::new() })
    }

    pub fn manifest(&self) -> &ModelManifest {
        &self.manifest
    }

    pub fn dim(&self) -> usize {
        self.manifest.dim
    }

    /// Embeds one image.
    pub fn embed(&self, image: &RgbImage) -> Result<Vec<f32>> {
        let mut out = self.embed_batch(std::slice::from_ref(image))?;
        out.pop().ok_or_else(|| Error::Runtime("model returned no embedding".into()))
    }

    /// Embeds a batch of images; returns one raw vector each, in order.
    ///
    /// Images that the manifest resizes to the same input size (all of them
    /// for a fixed-size model; same-shaped crops of one photo for an
    /// any-size one) share one inference.
    pub fn embed_batch<I: std::borrow::Borrow<RgbImage>>(&self, images: &[I]) -> Result<Vec<Vec<f32>>> {
        let spec = &self.manifest.input;
        let mut groups: std::collections::BTreeMap<(u32, u32), Vec<usize>> = Default::default();
        for (i, image) in images.iter().enumerate() {
            let image = image.borrow();
            groups.entry(spec.target_size(image.width(), image.height())).or_default().push(i);
        }
        let mut out = vec![Vec::new(); images.len()];
        for (size, members) in groups {
            let batch: Vec<&RgbImage> = members.iter().map(|&i| images[i].borrow()).collect();
            for (i, v) in members.into_iter().zip(self.infer(&batch, size)?) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// One inference over images resized to `size`.
    fn infer(&self, images: &[&RgbImage], size: (u32, u32)) -> Result<Vec<Vec<f32>>> {
        let spec = &self.manifest.input;
        match spec.dtype {
            InputType::F32 => self.run(images, size, |image, out| preprocess::push_tensor(image, spec, size, out)),
            InputType::U8 => self.run(images, size, |image, out| preprocess::push_pixels(image, spec, size, out)),
        }
    }

    /// Fills the input tensor (before a session is taken: resizing is not
    /// inference), runs the model and pools its output.
    fn run<T>(
        &self,
        images: &[&RgbImage],
        (width, height): (u32, u32),
        push: impl Fn(&RgbImage, &mut Vec<T>) -> Result<()>,
    ) -> Result<Vec<Vec<f32>>>
    where
        T: ort::value::PrimitiveTensorElementType + Clone + std::fmt::Debug + 'static,
    {
        let (h, w) = (height as usize, width as usize);
        let shape = match self.manifest.input.layout {
            Layout::Nchw => [images.len(), 3, h, w],
            Layout::Nhwc => [images.len(), h, w, 3],
        };
        let mut data = Vec::with_capacity(images.len() * 3 * h * w);
        for image in images {
            push(image, &mut data)?;
        }
        let mut session = self.checkout();
        let input = TensorRef::from_array_view((shape, data.as_slice()))?;
        let outputs = session.session().run(ort::inputs![self.manifest.input.name.as_str() => input])?;
        let features = outputs[self.manifest.output.name.as_str()].try_extract_array::<f32>()?;
        pool_features(features, self.manifest.output.pooling, self.manifest.dim, images.len())
    }

    fn checkout(&self) -> PooledSession<'_> {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(session) = pool.pop() {
                return PooledSession { owner: self, session: Some(session) };
            }
            pool = self.freed.wait(pool).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// A session on loan from the pool; returned on drop, even on error.
struct PooledSession<'a> {
    owner: &'a Embedder,
    session: Option<Session>,
}

impl PooledSession<'_> {
    fn session(&mut self) -> &mut Session {
        self.session.as_mut().expect("session is present until drop")
    }
}

impl Drop for PooledSession<'_> {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            self.owner.pool.lock().unwrap_or_else(|p| p.into_inner()).push(session);
            self.owner.freed.notify_one();
        }
    }
}

/// Pools a [B, D] or [B, T, D] feature tensor to B vectors of length `dim`.
fn pool_features(
    features: ndarray::ArrayViewD<'_, f32>,
    pooling: Pooling,
    dim: usize,
    batch: usize,
) -> Result<Vec<Vec<f32>>> {
    let shape = features.shape().to_vec();
    let bad = || Error::Runtime(format!("output shape {shape:?} does not fit pooling {pooling:?} and dim {dim}"));
    let mut out = Vec::with_capacity(batch);
    match (pooling, shape.as_slice()) {
        (Pooling::None, [b, d]) if *b == batch && *d == dim => {
            for row in features.outer_iter() {
                out.push(row.iter().copied().collect());
            }
        }
        (Pooling::Cls | Pooling::Mean, [b, t, d]) if *b == batch && *d == dim && *t > 0 => {
            let features = features.into_dimensionality::<ndarray::Ix3>().map_err(|_| bad())?;
            for tokens in features.outer_iter() {
                let v: Vec<f32> = match pooling {
                    Pooling::Cls => tokens.row(0).to_vec(),
                    _ => tokens.mean_axis(ndarray::Axis(0)).ok_or_else(bad)?.to_vec(),
                };
                out.push(v);
            }
        }
        _ => return Err(bad()),
    }
    Ok(out)
}

/// Scales a vector to unit length (left as is when it is all zeros).
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > f32::EPSILON {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cls_and_mean_pooling_pick_the_right_tokens() {
        // batch 1, 2 tokens, dim 2
        let a = ndarray::Array3::from_shape_vec((1, 2, 2), vec![3.0, 4.0, 1.0, 0.0]).unwrap().into_dyn();
        let cls = pool_features(a.view(), Pooling::Cls, 2, 1).unwrap();
        assert_eq!(cls, vec![vec![3.0, 4.0]]);
        let mean = pool_features(a.view(), Pooling::Mean, 2, 1).unwrap();
        assert_eq!(mean, vec![vec![2.0, 2.0]]);
        assert!(pool_features(a.view(), Pooling::None, 2, 1).is_err());
        assert!(pool_features(a.view(), Pooling::Cls, 3, 1).is_err());
    }
}
