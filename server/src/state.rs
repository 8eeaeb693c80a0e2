//! Shared application state: the recognizer, the loaded bundle, the queue, the cache.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use recognizer::{Bundle, ModelManifest, Recognizer};
use tokio::sync::Semaphore;

use crate::cache::Cache;

#[derive(Debug)]
pub struct AppState {
    pub recognizer: Recognizer,
    pub model: ModelManifest,
    bundle_root: PathBuf,
    /// The bundle requests use. Each request clones the `Arc`, so a request
    /// that started on one version finishes on it even if another is loaded.
    bundle: RwLock<Option<Arc<Bundle>>>,
    /// Permits for recognitions running or waiting; none left means 503.
    pub queue: Arc<Semaphore>,
    pub cache: Cache,
    pub max_upload_bytes: usize,
}

impl AppState {
    pub fn new(
        recognizer: Recognizer,
        model: ModelManifest,
        bundle_root: PathBuf,
        queue: usize,
        cache: Cache,
        max_upload_bytes: usize,
    ) -> Self {
        Self {
            recognizer,
            model,
            bundle_root,
            bundle: RwLock::new(None),
            queue: Arc::new(Semaphore::new(queue.max(1))),
            cache,
            max_upload_bytes,
        }
    }

    pub fn bundle(&self) -> Option<Arc<Bundle>> {
        self.bundle.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Loads the published bundle; on failure the previous one keeps serving.
    pub fn reload(&self) -> Result<String, recognizer::Error> {
        let bundle = Bundle::load_current(&self.bundle_root, &self.model)?;
        let version = bundle.version().to_owned();
        *self.bundle.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(bundle));
        Ok(version)
    }

    pub fn bundle_root(&self) -> &Path {
        &self.bundle_root
    }
}
