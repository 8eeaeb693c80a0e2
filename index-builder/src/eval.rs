//! `index-builder eval`: accuracy and latency on a folder of real photos.
//!
//! Layout (../shared/eval/README.md): `<set>/<object>/ref*` catalog images,
//! `<set>/<object>/query*` photos of that object, `<set>/_unknown/*` photos of
//! objects not in the catalog. Distractor sets add their refs to the index.
//! The photos are read where they are (symlinked into a temporary image
//! folder), never copied, and run through the same `Recognizer` as the server.

use std::path::{Path, PathBuf};
use std::time::Instant;

use recognizer::{Bundle, Decision, ExhibitKey, ExhibitRecord, Recognizer};
use serde::Serialize;

use crate::build::{BuildError, BuildOptions, build_bundle};
use crate::calibrate::quantile;
use crate::collection::load_collection;

/// How many shortlist places count for recall@k.
pub const RECALL_K: usize = 5;

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub dataset: String,
    pub catalog_objects: usize,
    pub catalog_images: usize,
    pub queries: usize,
    pub unknowns: usize,
    /// Known queries answered `matched` with the right object.
    pub top1: f64,
    /// Known queries whose object is in the shortlist's first `k` places.
    pub recall_at_k: f64,
    pub k: usize,
    /// Known queries answered `matched` with a wrong object.
    pub wrong_matches: f64,
    /// Known queries answered `no_match`.
    pub known_rejected: f64,
    /// Known queries answered `ambiguous`.
    pub ambiguous: f64,
    /// Unknown photos not answered `matched`.
    pub unknown_rejected: f64,
    /// Recognition latency per photo (decode to decision), milliseconds.
    pub p50_ms: f64,
    pub p95_ms: f64,
    /// Median time of each stage.
    pub stage_p50_ms: recognizer::recognize::Timings,
    pub calibration: recognizer::bundle::Calibration,
    /// Every photo not answered right (known: not matched to its object;
    /// unknown: matched), with what the recognizer answered.
    pub misses: Vec<Miss>,
}

/// A photo the recognizer did not answer right.
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    pub photo: String,
    /// The object it shows; `None` for an unknown photo.
    pub expected: Option<String>,
    pub status: &'static str,
    /// The decided exhibit(s), if any.
    pub answer: Vec<String>,
    /// The first shortlist places: exhibit, similarity, inliers.
    pub shortlist: Vec<(String, f32, u32)>,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0} has no objects with ref* images")]
    EmptyDataset(PathBuf),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Collection(#[from] crate::collection::CollectionError),
    #[error(transparent)]
    Recognizer(#[from] recognizer::Error),
}

struct Photo {
    path: PathBuf,
    /// `None` for unknown photos.
    object: Option<ExhibitKey>,
}

fn files_with_prefix(dir: &Path, prefix: &str) -> Result<Vec<PathBuf>, EvalError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| EvalError::Io(dir.to_owned(), e))? {
        let entry = entry.map_err(|e| EvalError::Io(dir.to_owned(), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(prefix) && entry.path().is_file() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| EvalError::Io(dir.to_owned(), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    Ok(out)
}

/// Adds every object of `set` with refs to the catalog (symlinked under `images/<tag>/`).
fn add_catalog(set: &Path, tag: &str, images: &Path, records: &mut Vec<ExhibitRecord>) -> Result<usize, EvalError> {
    let mut count = 0;
    for dir in subdirs(set)? {
        let object = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if object == "_unknown" {
            continue;
        }
        let refs = files_with_prefix(&dir, "ref")?;
        if refs.is_empty() {
            continue;
        }
        let id = format!("{tag}.{object}");
        let link_dir = images.join(&id);
        std::fs::create_dir_all(&link_dir).map_err(|e| EvalError::Io(link_dir.clone(), e))?;
        let mut names = Vec::new();
        for r in refs {
            let name = r.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let abs = std::fs::canonicalize(&r).map_err(|e| EvalError::Io(r.clone(), e))?;
            std::os::unix::fs::symlink(&abs, link_dir.join(&name)).map_err(|e| EvalError::Io(r.clone(), e))?;
            names.push(format!("{id}/{name}"));
            count += 1;
        }
        records.push(ExhibitRecord {
            id: id.clone(),
            museum: tag.to_owned(),
            accession_number: id.clone(),
            title: [("en".to_owned(), object)].into(),
            object_type: None,
            maker: Default::default(),
            date: None,
            period: Default::default(),
            culture: Default::default(),
            material: Default::default(),
            dimensions: None,
            description: Default::default(),
            gallery: Default::default(),
            images: names,
            rights: None,
            audio_url: None,
            audio: Default::default(),
            related: Vec::new(),
        });
    }
    Ok(count)
}

fn set_tag(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "set".into());
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// Writes `records` as one museum's collection and builds its bundle under `work/bundles`.
fn build_museum(
    recognizer: &Recognizer,
    work: &Path,
    images: &Path,
    museum: &str,
    mut records: Vec<ExhibitRecord>,
) -> Result<Bundle, EvalError> {
    for r in &mut records {
        r.museum = museum.to_owned();
    }
    let records_path = work.join(format!("records-{museum}.json"));
    let json = serde_json::to_vec(&records).unwrap_or_default();
    std::fs::write(&records_path, json).map_err(|e| EvalError::Io(records_path.clone(), e))?;
    let collection = load_collection(&records_path, images, museum)?;
    let bundles = work.join("bundles");
    // Unreadable refs are reported by the collection, not fatal for an eval.
    let options = BuildOptions { max_error_ratio: 1.0, ..BuildOptions::default() };
    build_bundle(&collection, recognizer, &bundles, &options)?;
    Ok(Bundle::load_current(&bundles.join(museum), recognizer.embedder().manifest())?)
}

/// Builds a temporary bundle from the refs and runs every query and unknown
/// photo. With `separate_museums`, every distractor set is a museum of its
/// own and photos are recognised across all museums (the server's unscoped
/// path); otherwise the distractors share the set's bundle.
pub fn evaluate(
    recognizer: &Recognizer,
    dataset: &Path,
    distractors: &[PathBuf],
    separate_museums: bool,
    progress: impl Fn(usize, usize),
) -> Result<EvalReport, EvalError> {
    let work = tempfile::tempdir().map_err(|e| EvalError::Io(std::env::temp_dir(), e))?;
    let images = work.path().join("images");
    let mut records = Vec::new();
    let tag = set_tag(dataset);
    let mut catalog_images = add_catalog(dataset, &tag, &images, &mut records)?;
    let catalog_objects = records.len();
    if catalog_objects == 0 {
        return Err(EvalError::EmptyDataset(dataset.to_owned()));
    }
    let mut others = Vec::new();
    for d in distractors {
        let museum = format!("distractor-{}", set_tag(d));
        let mut set = Vec::new();
        catalog_images += add_catalog(d, &museum, &images, &mut set)?;
        if separate_museums {
            others.push((museum, set));
        } else {
            records.extend(set);
        }
    }
    let mut bundles = vec![build_museum(recognizer, work.path(), &images, &tag, records)?];
    for (museum, set) in others {
        bundles.push(build_museum(recognizer, work.path(), &images, &museum, set)?);
    }
    let bundle = &bundles[0];
    let scope: Vec<&Bundle> = bundles.iter().collect();

    let mut photos = Vec::new();
    for dir in subdirs(dataset)? {
        let object = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if object == "_unknown" {
            photos.extend(files_with_prefix(&dir, "")?.into_iter().map(|path| Photo { path, object: None }));
        } else {
            let id = ExhibitKey::new(&tag, format!("{tag}.{object}"));
            photos.extend(
                files_with_prefix(&dir, "query")?.into_iter().map(|path| Photo { path, object: Some(id.clone()) }),
            );
        }
    }

    let (mut known, mut unknown) = (0usize, 0usize);
    let (mut right, mut recalled, mut wrong, mut rejected, mut ambiguous, mut unknown_rejected) = (0, 0, 0, 0, 0, 0);
    let mut latencies = Vec::with_capacity(photos.len());
    let mut misses = Vec::new();
    let mut stages: Vec<recognizer::recognize::Timings> = Vec::with_capacity(photos.len());
    for (i, photo) in photos.iter().enumerate() {
        let bytes = std::fs::read(&photo.path).map_err(|e| EvalError::Io(photo.path.clone(), e))?;
        let t = Instant::now();
        let result = recognizer.recognize_across(&scope, &bytes);
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        let r = match result {
            Ok(r) => {
                stages.push(r.timings.clone());
                r
            }
            Err(e) => {
                tracing::warn!(photo = %photo.path.display(), error = %e, "photo could not be recognised");
                if photo.object.is_some() {
                    known += 1;
                    rejected += 1;
                } else {
                    unknown += 1;
                    unknown_rejected += 1;
                }
                continue;
            }
        };
        let answered_right = match &photo.object {
            Some(id) => {
                known += 1;
                if r.candidates.iter().take(RECALL_K).any(|c| &c.exhibit == id) {
                    recalled += 1;
                }
                let (counter, right_answer) = match &r.decision {
                    Decision::Matched { exhibit, .. } if exhibit == id => (&mut right, true),
                    Decision::Matched { .. } => (&mut wrong, false),
                    Decision::Ambiguous { .. } => (&mut ambiguous, false),
                    Decision::NoMatch { .. } => (&mut rejected, false),
                };
                *counter += 1;
                right_answer
            }
            None => {
                unknown += 1;
                let rejected = !matches!(r.decision, Decision::Matched { .. });
                unknown_rejected += usize::from(rejected);
                rejected
            }
        };
        if !answered_right {
            misses.push(Miss {
                photo: photo.path.display().to_string(),
                expected: photo.object.as_ref().map(ToString::to_string),
                status: r.decision.status(),
                answer: match &r.decision {
                    Decision::Matched { exhibit, .. } => vec![exhibit.to_string()],
                    Decision::Ambiguous { exhibits } => exhibits.iter().map(ToString::to_string).collect(),
                    Decision::NoMatch { .. } => Vec::new(),
                },
                shortlist: r
                    .candidates
                    .iter()
                    .take(RECALL_K)
                    .map(|c| (c.exhibit.to_string(), c.score, c.inliers))
                    .collect(),
            });
        }
        progress(i + 1, photos.len());
    }
    latencies.sort_by(f64::total_cmp);
    let q = |p: f64| quantile(&latencies, p);
    let median = |f: fn(&recognizer::recognize::Timings) -> f64| {
        let mut v: Vec<f64> = stages.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        quantile(&v, 0.5)
    };
    let stage_p50_ms = recognizer::recognize::Timings {
        decode_ms: median(|t| t.decode_ms),
        embed_ms: median(|t| t.embed_ms),
        search_ms: median(|t| t.search_ms),
        verify_ms: median(|t| t.verify_ms),
    };
    let share = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    Ok(EvalReport {
        dataset: dataset.display().to_string(),
        catalog_objects,
        catalog_images,
        queries: known,
        unknowns: unknown,
        top1: share(right, known),
        recall_at_k: share(recalled, known),
        k: RECALL_K,
        wrong_matches: share(wrong, known),
        known_rejected: share(rejected, known),
        ambiguous: share(ambiguous, known),
        unknown_rejected: share(unknown_rejected, unknown),
        p50_ms: q(0.5),
        p95_ms: q(0.95),
        stage_p50_ms,
        calibration: bundle.manifest.calibration.clone(),
        misses,
    })
}
