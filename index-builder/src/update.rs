//! Incremental changes: add, replace or delete single exhibits without a full
//! rebuild. The published version is loaded (and verified), the changed
//! exhibits' images are embedded with *its* projection, everything else is
//! carried over as stored (vectors reconstructed from the index, keypoints
//! from `local.bin`), and the result is written as a new immutable version.
//! Decision thresholds are carried over too: one exhibit more or less does
//! not move them measurably, and a full build recalibrates.

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use recognizer::{Bundle, Recognizer, VectorIndex};

use crate::build::{BuildError, Progress, embed_images};
use crate::collection::Collection;
use crate::media::MediaSources;
use crate::store::{self, MuseumLock};

pub use builder_protocol::ChangeReport;

/// How a change is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeOptions {
    /// Publish the new version.
    pub publish: bool,
    /// A published exhibit keeps what its record does not replace: its
    /// images (vectors, keypoints, renditions) when the record names none,
    /// its audio guides in the languages the record does not name (records
    /// read by [`crate::collection::load_change`]).
    pub keep_media: bool,
}

/// Applies `upserts` (validated records with their images) and `deletes`
/// (exhibit ids) to the museum's published bundle under `root/<museum>/`.
pub fn apply_changes(
    recognizer: &Recognizer,
    root: &Path,
    upserts: &Collection,
    deletes: &[String],
    options: ChangeOptions,
    progress: &Progress,
    lock_wait: Option<std::time::Duration>,
) -> Result<ChangeReport, BuildError> {
    let publish = options.publish;
    let started = Instant::now();
    let museum = upserts.museum.as_str();
    if !upserts.rejected.is_empty() {
        return Err(BuildError::TooManyRejected {
            rejected: upserts.rejected.len(),
            total: upserts.total,
            max: 0.0,
            issues: upserts.rejected.clone(),
        });
    }
    // Held from reading the published version to publishing the new one, so
    // two changes never start from the same version (and lose each other).
    let lock = MuseumLock::acquire(root, museum, lock_wait)?;
    let embedder = recognizer.embedder();
    let current = Bundle::load_current(lock.root(), embedder.manifest())?;
    for id in deletes {
        if current.exhibit(id).is_none() {
            return Err(BuildError::UnknownExhibit(id.clone()));
        }
    }
    // What each upserted exhibit keeps of the published one, decided here,
    // under the lock, against the version the change starts from.
    let mut kept = match options.keep_media {
        true => keep_published(&current, upserts)?,
        false => Kept::default(),
    };
    let completed;
    let upserts = match kept.records.take() {
        Some(records) => {
            completed = Collection { records, ..upserts.clone() };
            &completed
        }
        None => upserts,
    };
    // Exhibits whose images are embedded anew (the others' are carried over).
    let reimaged: Vec<recognizer::ExhibitRecord> =
        upserts.records.iter().filter(|r| !kept.images.contains(&r.id)).cloned().collect();
    let replaced: HashSet<&str> =
        reimaged.iter().map(|r| r.id.as_str()).chain(deletes.iter().map(String::as_str)).collect();

    // Carry over everything the change does not touch.
    let dim = embedder.dim();
    let stored = current.index.reconstruct_all()?;
    let mut vectors = Vec::with_capacity(stored.len());
    let mut entries = Vec::new();
    let mut local = Vec::new();
    for (i, entry) in current.vectors.iter().enumerate() {
        if replaced.contains(entry.exhibit.as_str()) {
            continue;
        }
        vectors.extend_from_slice(&stored[i * dim..(i + 1) * dim]);
        entries.push(entry.clone());
        if let Some(l) = &current.local {
            local.push(l.image_features(i));
        }
    }

    // Embed the new images with the published projection.
    let to_embed = Collection { records: reimaged, positions: Vec::new(), ..upserts.clone() };
    let new = embed_images(recognizer, &to_embed, current.local.is_some(), 8, progress)?;
    vectors.extend(current.manifest.projection.apply_all(&new.raw));
    entries.extend(new.entries);
    local.extend(new.local);

    // Records: replaced ones keep their place, new ones go last.
    let mut records: Vec<recognizer::ExhibitRecord> = current
        .exhibits()
        .iter()
        .filter(|e| !deletes.contains(&e.id))
        .map(|e| upserts.records.iter().find(|u| u.id == e.id).unwrap_or(e).clone())
        .collect();
    for r in &upserts.records {
        if current.exhibit(&r.id).is_none() {
            records.push(r.clone());
        }
    }

    progress.report("writing", 0, 1);
    let (index, recall) = VectorIndex::build_for_size(dim, &vectors)?;
    let local = match current.local {
        Some(_) => Some(recognizer::local::LocalIndex::from_images(&local)?),
        None => None,
    };
    let count = entries.len();
    let exhibits = records.len();
    let mut unsaved =
        Bundle::unsaved(embedder.manifest(), index, entries, local, records, current.manifest.projection.clone())?;
    unsaved.set_index_recall(recall);
    // Changed exhibits get new renditions; the rest keep the published ones.
    let fresh: HashSet<String> = upserts.records.iter().map(|r| r.id.clone()).collect();
    let media = MediaSources {
        images_dir: &upserts.images_dir,
        carry: Some((&current.dir, &current.media)),
        fresh: Some(&fresh),
        kept_images: Some(&kept.images),
        kept_audio: Some(&kept.audio),
    };
    let manifest = store::write(&lock, &unsaved, current.manifest.calibration.clone(), &media, progress)?;
    if publish {
        store::publish(&lock, &manifest.version, Some(current.version()))?;
    }
    progress.report("writing", 1, 1);
    Ok(ChangeReport {
        museum: museum.to_owned(),
        base_version: current.version().to_owned(),
        version: manifest.version,
        published: publish,
        upserted: upserts.records.iter().map(|r| r.id.clone()).collect(),
        deleted: deletes.to_vec(),
        rejected: Vec::new(),
        exhibits,
        vectors: count,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What a change with `keep_media` keeps of the published exhibits.
#[derive(Debug, Default)]
struct Kept {
    /// The upserted records completed with what they keep (`None`: as given).
    records: Option<Vec<recognizer::ExhibitRecord>>,
    /// Exhibits whose published images stay.
    images: HashSet<String>,
    /// Exhibit -> languages whose published audio guide stays.
    audio: std::collections::HashMap<String, HashSet<String>>,
}

/// Completes each upserted record from the published exhibit: no images
/// named (or exactly the published ones, not sent again) -> the published
/// ones; a published audio guide in a language the record does not name
/// stays; an audio name that is no file of the change must be that
/// language's published guide. A record of an exhibit that is not published
/// keeps nothing: what it names must have been sent (each failure a reason).
fn keep_published(current: &Bundle, upserts: &Collection) -> Result<Kept, BuildError> {
    let mut kept = Kept::default();
    let mut records = Vec::with_capacity(upserts.records.len());
    let mut issues = Vec::new();
    let sent = |name: &str| crate::media::relative_inside(name).is_ok_and(|p| upserts.images_dir.join(p).is_file());
    for (n, record) in upserts.records.iter().enumerate() {
        let position = upserts.positions.get(n).copied().unwrap_or(n + 1);
        let mut record = record.clone();
        let mut reasons = Vec::new();
        let Some(published) = current.exhibit(&record.id) else {
            // A new exhibit keeps nothing: everything it names must have been sent.
            if record.images.is_empty() {
                reasons.push("no images (a new exhibit needs its image)".to_owned());
            }
            for name in record.images.iter().filter(|n| !sent(n)) {
                reasons.push(format!("image {name}: not sent with the change"));
            }
            for (lang, name) in &record.audio {
                if let Err(reason) = crate::media::check_audio(&upserts.images_dir, lang, name) {
                    reasons.push(format!("audio {name}: {reason}"));
                }
            }
            if reasons.is_empty() {
                records.push(record);
            } else {
                issues.push(builder_protocol::RecordIssue { position, id: Some(record.id.clone()), reasons });
            }
            continue;
        };
        // No images, or exactly the published ones unsent: they stay.
        let unsent: Vec<&String> = record.images.iter().filter(|n| !sent(n)).collect();
        if record.images.is_empty() || (unsent.len() == record.images.len() && record.images == published.images) {
            record.images = published.images.clone();
            kept.images.insert(record.id.clone());
        } else {
            for name in unsent {
                reasons.push(format!("image {name}: not sent with the change, and not among its published images"));
            }
        }
        let mut langs = HashSet::new();
        for (lang, name) in &record.audio {
            if sent(name) {
                continue;
            }
            if published.audio.get(lang) == Some(name) {
                langs.insert(lang.clone());
            } else {
                reasons.push(format!("audio {name} ({lang}): not sent with the change, and not its published guide"));
            }
        }
        for (lang, name) in &published.audio {
            if !record.audio.contains_key(lang) {
                record.audio.insert(lang.clone(), name.clone());
                langs.insert(lang.clone());
            }
        }
        if !reasons.is_empty() {
            issues.push(builder_protocol::RecordIssue { position, id: Some(record.id.clone()), reasons });
        }
        kept.audio.insert(record.id.clone(), langs);
        records.push(record);
    }
    if !issues.is_empty() {
        return Err(BuildError::TooManyRejected { rejected: issues.len(), total: upserts.total, max: 0.0, issues });
    }
    kept.records = Some(records);
    Ok(kept)
}
