//! The on-disk index bundle: everything the server needs to recognise a
//! collection, written once by the index builder and never changed after.
//!
//! ```text
//! <root>/CURRENT                      name of the published version (one line)
//! <root>/versions/<version>/
//!     manifest.json                   model id + sha256 + dim, counts, calibration, file checksums
//!     index.faiss                     FAISS index; vector id = row in vectors.json
//!     vectors.json                    vector id -> exhibit id and source image
//!     exhibits.json                   the exhibit records
//!     local.bin                       ORB keypoints + descriptors per vector (optional)
//!     local.ivf                       trained FAISS binary IVF over local.bin (large catalogs only)
//!     media.json                      display renditions and audio per exhibit (optional)
//!     media/<sha256>.<ext>            those files, named by their content (never in `files`)
//!     search/                         the records' full-text search index (`catalog-search`; in `files`)
//! ```
//!
//! Invariants: a version directory appears by one `rename` of a fully written
//! temporary directory, and is never modified afterwards; `CURRENT` changes
//! only by `rename` of a fully written temporary file. A reader therefore
//! sees either the old bundle or the new one, never a mix. Loading verifies
//! every file's checksum and that the bundle was built with the model in use.
//!
//! This module only reads bundles. Writing, publishing, rolling back and
//! collecting them is the index builder's (`index_builder::store`): the
//! server does not depend on that crate, so it cannot write a bundle.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::index::VectorIndex;
use crate::model::ModelManifest;
use crate::{Error, Result};

pub const FORMAT_VERSION: u32 = 1;
pub const MANIFEST: &str = "manifest.json";
pub const INDEX: &str = "index.faiss";
pub const VECTORS: &str = "vectors.json";
pub const EXHIBITS: &str = "exhibits.json";
pub const LOCAL: &str = "local.bin";
pub const LOCAL_IVF: &str = "local.ivf";
pub const CURRENT: &str = "CURRENT";
/// A well-formed language tag as records and requests use them (BCP 47's
/// shape: a 2-8 letter primary subtag, then 1-8 letter-or-digit subtags,
/// as in `zh`, `en-GB`, `zh-Hant-TW`); exactly the `Lang` pattern of the
/// API document.
pub fn valid_lang_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    parts.next().is_some_and(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()))
        && parts.all(|t| (1..=8).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The media table (`MediaIndex`) of a version.
pub const MEDIA: &str = "media.json";
/// The folder of a version's media files.
pub const MEDIA_DIR: &str = "media";

/// Text in several languages, keyed by BCP-47-ish code (`zh`, `en`, ...).
pub type LangText = BTreeMap<String, String>;

/// One exhibit, in the minimal shape Spectrum, Dublin Core and Linked Art agree on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExhibitRecord {
    /// Stable id used in URLs.
    pub id: String,
    /// Museum (tenant) the exhibit belongs to.
    pub museum: String,
    pub accession_number: String,
    pub title: LangText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_type: Option<String>,
    #[serde(default, skip_serializing_if = "LangText::is_empty")]
    pub maker: LangText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<DateSpan>,
    /// Period or dynasty.
    #[serde(default, skip_serializing_if = "LangText::is_empty")]
    pub period: LangText,
    #[serde(default, skip_serializing_if = "LangText::is_empty")]
    pub culture: LangText,
    #[serde(default, skip_serializing_if = "LangText::is_empty")]
    pub material: LangText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<String>,
    /// Guide-style introduction.
    #[serde(default, skip_serializing_if = "LangText::is_empty")]
    pub description: LangText,
    #[serde(default, skip_serializing_if = "LangText::is_empty")]
    pub gallery: LangText,
    /// Image file names (relative to the collection's image folder); the first is primary.
    pub images: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rights: Option<String>,
    /// An audio guide hosted elsewhere (a URL, served as is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_url: Option<String>,
    /// Audio guide files per language (names relative to the collection's
    /// image folder, imported with the images); served from the bundle.
    #[serde(default, skip_serializing_if = "LangText::is_empty")]
    pub audio: LangText,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<String>,
}

/// What a version serves besides recognition: for each exhibit, display
/// renditions of its catalog images and its audio guide files, all under
/// `media/`, each named by its content's sha256 (so a name never changes
/// meaning, and a URL built from it can be cached forever).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MediaIndex {
    pub exhibits: BTreeMap<String, ExhibitMedia>,
    /// Every file under `media/`.
    pub files: BTreeMap<String, MediaFile>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ExhibitMedia {
    /// One per catalog image, in the record's order.
    pub images: Vec<Rendition>,
    /// Language tag -> audio file name.
    #[serde(default, skip_serializing_if = "LangText::is_empty")]
    pub audio: LangText,
}

/// One catalog image as shown to visitors.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Rendition {
    /// The record's image name it was made from.
    pub source: String,
    /// A view for a phone screen (long side at most 1024 px).
    pub display: String,
    /// For lists (long side at most 320 px).
    pub thumbnail: String,
    /// The display rendition's size.
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MediaFile {
    pub content_type: String,
    pub bytes: u64,
    pub sha256: String,
}

impl MediaIndex {
    /// The path of media file `name` under version `dir`, if this version
    /// has such a file. Names come only from the table, so nothing outside
    /// `media/` can be reached through one.
    pub fn path(&self, dir: &Path, name: &str) -> Option<(PathBuf, &MediaFile)> {
        self.files.get(name).map(|f| (dir.join(MEDIA_DIR).join(name), f))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DateSpan {
    #[serde(default, skip_serializing_if = "LangText::is_empty")]
    pub display: LangText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earliest: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<i32>,
}

/// One indexed vector: which exhibit and which of its images it came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VectorEntry {
    pub exhibit: String,
    pub image: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelRef {
    pub id: String,
    pub sha256: String,
    pub dim: usize,
}

impl From<&ModelManifest> for ModelRef {
    fn from(m: &ModelManifest) -> Self {
        Self { id: m.id.clone(), sha256: m.sha256.clone(), dim: m.dim }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Counts {
    pub exhibits: usize,
    pub vectors: usize,
}

/// Decision thresholds derived from the collection itself at build time.
///
/// The builder composes simulated visitor photos from catalog images and runs
/// them through the same recognition path the server uses. For each, the best
/// score among *other* exhibits is what a photo of an object that is not in
/// the collection would score (leave-one-out), and the own exhibit's score is
/// what a right answer scores.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Calibration {
    /// Simulated photos behind these figures.
    pub queries: usize,
    /// Quantiles of the best score among other exhibits ("unknown object").
    pub unknown_p50: f32,
    pub unknown_p90: f32,
    pub unknown_p95: f32,
    /// Quantiles of the own exhibit's score.
    pub genuine_p10: f32,
    pub genuine_p50: f32,
    /// Share of simulated photos whose own exhibit ranked first.
    pub simulated_top1: f32,
    /// Accept when the best score reaches this (a high quantile of the unknown score)...
    pub accept_score: f32,
    /// ...or when the best exhibit leads the runner-up by this much (the same
    /// quantile of an unknown object's lead over its own runner-up).
    pub accept_margin: f32,
    /// Geometric verification: RANSAC inliers at which an exhibit counts as
    /// seen, unless `exhibit_min_inliers` names a higher bar for it.
    pub min_inliers: u32,
    /// Exhibits that simulated photos of *other* exhibits verified against
    /// (shared content: sibling products, one artwork on two covers), each
    /// with the most inliers it reached on them plus a margin. A photo of an
    /// object that is not in the collection but resembles one of these the
    /// same way would reach as many, so their bar is higher; everyone else
    /// keeps `min_inliers`. One confusable pair no longer raises the bar for
    /// the whole collection.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub exhibit_min_inliers: std::collections::BTreeMap<String, u32>,
    /// For each exhibit of `exhibit_min_inliers`, the exhibits whose
    /// simulated photos verified against it (what raised its bar).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub exhibit_confusers: std::collections::BTreeMap<String, Vec<String>>,
    /// Best against second: an exhibit below its own bar still counts as
    /// seen when it has at least `min_inliers` and this many times the
    /// inliers of every other exhibit checked on the photo, the exhibits
    /// that raised its bar included (the recognizer checks them). Siblings
    /// share keypoints, so a photo of one reaches many inliers on the other,
    /// but fewer than on itself. 0 (bundles from before): off.
    #[serde(default)]
    pub inlier_lead: f32,
    /// Most inliers any *other* exhibit reached on a simulated photo (photos where
    /// another exhibit rivals the right one, i.e. duplicate content, left out).
    pub unknown_inliers_max: u32,
    /// Share of simulated photos answered right and accepted.
    pub simulated_accepted: f32,
    /// Share of simulated unknown objects (leave-one-out) that would be accepted.
    pub simulated_unknown_accepted: f32,
}

impl Calibration {
    /// RANSAC inliers at which `exhibit` counts as seen.
    pub fn min_inliers_for(&self, exhibit: &str) -> u32 {
        self.exhibit_min_inliers.get(exhibit).map_or(self.min_inliers, |&m| m.max(self.min_inliers))
    }

    /// The exhibits that raised `exhibit`'s bar (none for most).
    pub fn confusers_of(&self, exhibit: &str) -> &[String] {
        self.exhibit_confusers.get(exhibit).map_or(&[], Vec::as_slice)
    }

    /// Before (or without) calibration: nothing is accepted on similarity, and
    /// geometric verification is off.
    pub fn uncalibrated() -> Self {
        Self {
            queries: 0,
            unknown_p50: 0.0,
            unknown_p90: 0.0,
            unknown_p95: 0.0,
            genuine_p10: 0.0,
            genuine_p50: 0.0,
            simulated_top1: 0.0,
            // Cosine similarity never exceeds 1, nor a lead 2.
            accept_score: 2.0,
            accept_margin: 2.0,
            min_inliers: u32::MAX,
            exhibit_min_inliers: Default::default(),
            exhibit_confusers: Default::default(),
            inlier_lead: 0.0,
            unknown_inliers_max: 0,
            simulated_accepted: 0.0,
            simulated_unknown_accepted: 0.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BundleManifest {
    pub format: u32,
    pub version: String,
    /// The museum (tenant) this bundle belongs to.
    #[serde(default)]
    pub museum: String,
    pub created_at: DateTime<Utc>,
    pub model: ModelRef,
    pub counts: Counts,
    /// Index type as a FAISS factory string.
    pub index_kind: String,
    /// For approximate indexes: recall@10 against exact search, measured at build time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_recall_at_10: Option<f32>,
    pub calibration: Calibration,
    /// Maps raw model features to the index's unit vectors.
    pub projection: crate::Projection,
    /// sha256 of every other file in the bundle.
    pub files: BTreeMap<String, String>,
}

/// A loaded, verified bundle. Immutable.
#[derive(Debug)]
pub struct Bundle {
    pub manifest: BundleManifest,
    pub dir: PathBuf,
    pub index: VectorIndex,
    pub vectors: Vec<VectorEntry>,
    /// Local features per vector (same order), for geometric verification.
    pub local: Option<crate::local::LocalIndex>,
    /// Renditions and audio (empty for versions written before media).
    pub media: MediaIndex,
    exhibits: Vec<ExhibitRecord>,
    by_id: HashMap<String, usize>,
}

impl Bundle {
    /// Loads the version `CURRENT` points at.
    pub fn load_current(root: &Path, model: &ModelManifest) -> Result<Self> {
        let version = current_version(root)?.ok_or_else(|| Error::NotPublished { root: root.to_owned() })?;
        Self::load(&root.join("versions").join(version), model)
    }

    /// Loads and verifies one bundle directory against the model in use.
    pub fn load(dir: &Path, model: &ModelManifest) -> Result<Self> {
        let manifest: BundleManifest = read_json(&dir.join(MANIFEST))?;
        if manifest.format != FORMAT_VERSION {
            return Err(Error::bundle(dir, format!("format {} is not {FORMAT_VERSION}", manifest.format)));
        }
        let expected = ModelRef::from(model);
        if manifest.model != expected {
            return Err(Error::bundle(
                dir,
                format!(
                    "built with model {} ({}, dim {}), but the server runs {} ({}, dim {})",
                    manifest.model.id,
                    short(&manifest.model.sha256),
                    manifest.model.dim,
                    expected.id,
                    short(&expected.sha256),
                    expected.dim
                ),
            ));
        }
        for name in [INDEX, VECTORS, EXHIBITS] {
            if !manifest.files.contains_key(name) {
                return Err(Error::bundle(dir, format!("manifest lacks {name}")));
            }
        }
        for (name, want) in &manifest.files {
            let got = crate::sha256_file(&dir.join(name)).map_err(Error::io(format!("reading {name}")))?;
            if &got != want {
                return Err(Error::bundle(dir, format!("{name} checksum mismatch: bundle is corrupt")));
            }
        }
        let index = VectorIndex::read(&dir.join(INDEX))?;
        let vectors: Vec<VectorEntry> = read_json(&dir.join(VECTORS))?;
        let exhibits: Vec<ExhibitRecord> = read_json(&dir.join(EXHIBITS))?;
        let local = if manifest.files.contains_key(LOCAL) {
            let trained = manifest.files.contains_key(LOCAL_IVF).then(|| dir.join(LOCAL_IVF));
            Some(crate::local::LocalIndex::read(&dir.join(LOCAL), trained.as_deref())?)
        } else {
            None
        };
        let mut bundle = Self::assemble(manifest, dir.to_owned(), index, vectors, local, exhibits)?;
        bundle.media = load_media(dir)?;
        Ok(bundle)
    }

    /// A bundle that exists only in memory (used to calibrate a build before it
    /// is written); its manifest has no files and a neutral calibration.
    pub fn unsaved(
        model: &ModelManifest,
        index: VectorIndex,
        vectors: Vec<VectorEntry>,
        local: Option<crate::local::LocalIndex>,
        exhibits: Vec<ExhibitRecord>,
        projection: crate::Projection,
    ) -> Result<Self> {
        let manifest = BundleManifest {
            format: FORMAT_VERSION,
            version: "unsaved".into(),
            museum: exhibits.first().map(|e| e.museum.clone()).unwrap_or_default(),
            created_at: Utc::now(),
            model: ModelRef::from(model),
            counts: Counts { exhibits: exhibits.len(), vectors: vectors.len() },
            index_kind: index.kind(),
            index_recall_at_10: None,
            calibration: Calibration::uncalibrated(),
            projection,
            files: BTreeMap::new(),
        };
        Self::assemble(manifest, PathBuf::new(), index, vectors, local, exhibits)
    }

    fn assemble(
        manifest: BundleManifest,
        dir: PathBuf,
        index: VectorIndex,
        vectors: Vec<VectorEntry>,
        local: Option<crate::local::LocalIndex>,
        exhibits: Vec<ExhibitRecord>,
    ) -> Result<Self> {
        if local.as_ref().is_some_and(|l| l.images() != vectors.len()) {
            return Err(Error::bundle(&dir, "local features do not match the vector table"));
        }
        if manifest.projection.center.len() != manifest.model.dim {
            return Err(Error::bundle(&dir, "projection does not match the model dimension"));
        }
        if index.dim() != manifest.model.dim {
            return Err(Error::bundle(&dir, format!("index dim {} != model dim {}", index.dim(), manifest.model.dim)));
        }
        if index.len() != vectors.len() || vectors.len() != manifest.counts.vectors {
            return Err(Error::bundle(
                &dir,
                format!(
                    "index has {} vectors, table {}, manifest {}",
                    index.len(),
                    vectors.len(),
                    manifest.counts.vectors
                ),
            ));
        }
        if let Some(e) = exhibits.iter().find(|e| e.museum != exhibits[0].museum) {
            return Err(Error::bundle(
                &dir,
                format!("exhibit {} belongs to museum {}, not {}", e.id, e.museum, exhibits[0].museum),
            ));
        }
        let by_id: HashMap<String, usize> = exhibits.iter().enumerate().map(|(i, e)| (e.id.clone(), i)).collect();
        if by_id.len() != exhibits.len() {
            return Err(Error::bundle(&dir, "duplicate exhibit ids"));
        }
        if let Some(v) = vectors.iter().find(|v| !by_id.contains_key(&v.exhibit)) {
            return Err(Error::bundle(&dir, format!("vector refers to unknown exhibit {}", v.exhibit)));
        }
        Ok(Self { manifest, dir, index, vectors, local, media: MediaIndex::default(), exhibits, by_id })
    }

    /// Records the approximate index's measured recall in the manifest to be written.
    pub fn set_index_recall(&mut self, recall: Option<f32>) {
        self.manifest.index_recall_at_10 = recall;
    }

    /// Turns a raw model feature into a query vector for this bundle's index.
    pub fn project(&self, raw: &[f32]) -> Vec<f32> {
        self.manifest.projection.apply(raw)
    }

    pub fn version(&self) -> &str {
        &self.manifest.version
    }

    /// The museum this bundle serves (older bundles: their first record's).
    pub fn museum(&self) -> &str {
        if self.manifest.museum.is_empty() {
            self.exhibits.first().map_or("", |e| e.museum.as_str())
        } else {
            &self.manifest.museum
        }
    }

    pub fn exhibit(&self, id: &str) -> Option<&ExhibitRecord> {
        self.by_id.get(id).map(|&i| &self.exhibits[i])
    }

    pub fn exhibits(&self) -> &[ExhibitRecord] {
        &self.exhibits
    }
}

/// The media table of version `dir` (empty for versions without media).
pub fn load_media(dir: &Path) -> Result<MediaIndex> {
    let path = dir.join(MEDIA);
    if !path.is_file() {
        return Ok(MediaIndex::default());
    }
    let media: MediaIndex = read_json(&path)?;
    // A second guard behind the checksums: every name is `<hash>.<ext>`,
    // so none can reach outside `media/`.
    let plain = |n: &str| {
        n.split_once('.').is_some_and(|(h, e)| {
            h.len() == 32
                && h.bytes().all(|b| b.is_ascii_hexdigit())
                && (1..=5).contains(&e.len())
                && e.bytes().all(|b| b.is_ascii_alphanumeric())
        })
    };
    if let Some(bad) = media.files.keys().find(|n| !plain(n)) {
        return Err(Error::bundle(dir, format!("media name `{bad}` is not <hash>.<ext>")));
    }
    Ok(media)
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(Error::io(format!("reading {}", path.display())))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::bundle(path, format!("invalid json: {e}")))
}

/// The version `CURRENT` names, if any.
pub fn current_version(root: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(root.join(CURRENT)) {
        Ok(s) => Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("reading CURRENT")(e)),
    }
}

/// Versions present under `root`, oldest first (names sort by creation time).
pub fn list_versions(root: &Path) -> Result<Vec<String>> {
    let dir = root.join("versions");
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("listing versions")(e)),
    };
    for entry in entries {
        let entry = entry.map_err(Error::io("listing versions"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && entry.path().join(MANIFEST).is_file() {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// Whether `id` can name a museum (and its folder): 1-64 ASCII letters,
/// digits, '-' or '_', not starting with '-'.
pub fn valid_museum_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && !id.starts_with('-')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The bundle root of one museum: `<root>/<museum>/` holds its `versions/`
/// and `CURRENT`. Every museum is a tenant with bundles of its own.
pub fn museum_root(root: &Path, museum: &str) -> Result<PathBuf> {
    if !valid_museum_id(museum) {
        return Err(Error::bundle(root, format!("`{museum}` is not a valid museum id")));
    }
    Ok(root.join(museum))
}

/// Museums with a bundle root under `root` (published or not), sorted.
pub fn list_museums(root: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("listing museums")(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(Error::io("listing museums"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if valid_museum_id(&name) && entry.path().join("versions").is_dir() {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}
