//! Embedding a validated collection into a new bundle version.

use std::path::Path;
use std::time::Instant;

use crate::media::MediaSources;
use crate::store::{self, MuseumLock};
use recognizer::{Bundle, DecodeLimits, Projection, Recognizer, VectorEntry, VectorIndex, decode_image};

use crate::calibrate::{CalibrationOptions, calibrate};

use crate::collection::{Collection, RecordIssue};

/// Reports progress: (stage, done, total). Stages: `embedding`, `calibrating`, `writing`, `media`.
#[derive(Clone, Default)]
pub struct Progress(Option<std::sync::Arc<ProgressFn>>);

type ProgressFn = dyn Fn(&str, usize, usize) + Send + Sync;

impl Progress {
    pub fn new(f: impl Fn(&str, usize, usize) + Send + Sync + 'static) -> Self {
        Self(Some(std::sync::Arc::new(f)))
    }

    pub fn report(&self, stage: &str, done: usize, total: usize) {
        if let Some(f) = &self.0 {
            f(stage, done, total);
        }
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Progress(on)" } else { "Progress(off)" })
    }
}

#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Refuse to build when more than this share of records was rejected.
    pub max_error_ratio: f64,
    /// Point `CURRENT` at the new version once written.
    pub publish: bool,
    /// Images per inference call.
    pub batch: usize,
    pub calibration: CalibrationOptions,
    pub progress: Progress,
    /// How long to wait for another builder working on the museum (`None`: as long as it takes).
    pub lock_wait: Option<std::time::Duration>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            max_error_ratio: 0.0,
            publish: true,
            batch: 8,
            calibration: CalibrationOptions::default(),
            progress: Progress::default(),
            lock_wait: None,
        }
    }
}

pub use builder_protocol::BuildReport;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{rejected} of {total} records rejected, above the allowed ratio {max}")]
    TooManyRejected { rejected: usize, total: usize, max: f64, issues: Vec<RecordIssue> },
    #[error("the collection has no acceptable records")]
    Empty,
    #[error("no exhibit `{0}` in the published bundle")]
    UnknownExhibit(String),
    #[error("image {image} of exhibit {exhibit}: {source}")]
    Image {
        exhibit: String,
        image: String,
        #[source]
        source: recognizer::Error,
    },
    #[error(transparent)]
    Recognizer(#[from] recognizer::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Raw model features, vector entries and (if asked) keypoints of a
/// collection's images, in record order.
pub(crate) struct Embedded {
    pub raw: Vec<f32>,
    pub entries: Vec<VectorEntry>,
    pub local: Vec<recognizer::local::ImageFeatures>,
}

/// Reads, decodes and embeds every image of `collection`'s records, `batch`
/// images per inference call, extracting keypoints too when `with_local`.
pub(crate) fn embed_images(
    recognizer: &Recognizer,
    collection: &Collection,
    with_local: bool,
    batch: usize,
    progress: &Progress,
) -> Result<Embedded, BuildError> {
    let embedder = recognizer.embedder();
    let jobs: Vec<(&str, &str)> =
        collection.records.iter().flat_map(|r| r.images.iter().map(move |img| (r.id.as_str(), img.as_str()))).collect();
    let mut out = Embedded {
        raw: Vec::with_capacity(jobs.len() * embedder.dim()),
        entries: Vec::with_capacity(jobs.len()),
        local: Vec::with_capacity(if with_local { jobs.len() } else { 0 }),
    };
    for chunk in jobs.chunks(batch.max(1)) {
        let mut images = Vec::with_capacity(chunk.len());
        for &(exhibit, image) in chunk {
            let image_err = |source| BuildError::Image { exhibit: exhibit.into(), image: image.into(), source };
            let bytes = std::fs::read(crate::collection::image_path(&collection.images_dir, image))
                .map_err(|e| image_err(recognizer::Error::InvalidImage { reason: e.to_string() }))?;
            let decoded = decode_image(&bytes, DecodeLimits::default()).map_err(image_err)?;
            if with_local {
                out.local.push(recognizer::local::extract(&decoded, &recognizer.settings().local)?);
            }
            images.push(decoded);
            out.entries.push(VectorEntry { exhibit: exhibit.into(), image: image.into() });
        }
        for v in embedder.embed_batch(&images)? {
            out.raw.extend_from_slice(&v);
        }
        progress.report("embedding", out.entries.len(), jobs.len());
    }
    Ok(out)
}

/// Embeds every image of `collection`, calibrates decisions on simulated
/// photos run through `recognizer`, writes a new version under the museum's
/// own root (`root/<museum>/`), and publishes it if asked.
pub fn build_bundle(
    collection: &Collection,
    recognizer: &Recognizer,
    root: &Path,
    options: &BuildOptions,
) -> Result<BuildReport, BuildError> {
    let rejected = collection.rejected.len();
    if collection.error_ratio() > options.max_error_ratio {
        return Err(BuildError::TooManyRejected {
            rejected,
            total: collection.total,
            max: options.max_error_ratio,
            issues: collection.rejected.clone(),
        });
    }
    if collection.records.is_empty() {
        return Err(BuildError::Empty);
    }
    // One builder at a time per museum, for the whole build.
    let lock = MuseumLock::acquire(root, &collection.museum, options.lock_wait)?;
    let base = lock.current()?;

    let embedder = recognizer.embedder();
    let started = Instant::now();
    let Embedded { raw, entries, local } =
        embed_images(recognizer, collection, true, options.batch, &options.progress)?;
    let embed_seconds = started.elapsed().as_secs_f64();

    let projection = Projection::fit(&raw, embedder.dim());
    let (index, recall) = VectorIndex::build_for_size(embedder.dim(), &projection.apply_all(&raw))?;
    let vectors = entries.len();
    let local = Some(recognizer::local::LocalIndex::from_images(&local)?);
    let mut unsaved =
        Bundle::unsaved(embedder.manifest(), index, entries, local, collection.records.clone(), projection)?;
    unsaved.set_index_recall(recall);
    let started = Instant::now();
    let calibration = calibrate(recognizer, &unsaved, &collection.images_dir, &options.calibration, &|done, total| {
        options.progress.report("calibrating", done, total)
    })?;
    let calibrate_seconds = started.elapsed().as_secs_f64();
    options.progress.report("writing", 0, 1);
    let media = MediaSources {
        images_dir: &collection.images_dir,
        carry: None,
        fresh: None,
        kept_images: None,
        kept_audio: None,
    };
    let manifest = store::write(&lock, &unsaved, calibration, &media, &options.progress)?;
    options.progress.report("writing", 1, 1);
    if options.publish {
        store::publish(&lock, &manifest.version, base.as_deref())?;
    }
    Ok(BuildReport {
        museum: collection.museum.clone(),
        version: manifest.version.clone(),
        published: options.publish,
        records_total: collection.total,
        records_accepted: collection.records.len(),
        rejected: collection.rejected.clone(),
        vectors,
        embed_seconds,
        calibrate_seconds,
        manifest,
    })
}
