//! The bundle store: writing, publishing, rolling back and collecting a
//! museum's bundle versions. Only the index builder writes bundles; the
//! server reads them (`recognizer::bundle`) and does not depend on this
//! crate, so the compiler keeps it from writing one.
//!
//! Every change to a museum's bundles happens under [`MuseumLock`], an OS
//! file lock on `<root>/<museum>/.lock` (released by the kernel when the
//! process ends, however it ends). Each store function takes the lock as an
//! argument, so none can run without it. A change that starts from the
//! published version (an incremental change, a rollback) publishes by
//! compare-and-swap: only if `CURRENT` still names the version it read,
//! which also refuses a writer that did not take the lock.
//!
//! On disk (see `recognizer::bundle`): a version directory appears by one
//! `rename` of a fully written temporary directory and is never modified;
//! `CURRENT` changes by `rename` of a fully written temporary file.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;
use recognizer::Bundle;
use recognizer::bundle::{
    BundleManifest, Calibration, EXHIBITS, FORMAT_VERSION, INDEX, LOCAL, LOCAL_IVF, MANIFEST, MEDIA, VECTORS,
    current_version, list_versions, museum_root,
};
use serde::Serialize;

use crate::build::Progress;
use crate::media::MediaSources;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("no bundle version `{0}`")]
    NoSuchVersion(String),
    #[error("nothing is published yet")]
    NothingPublished,
    #[error("no version older than {0} to roll back to")]
    NothingOlder(String),
    #[error(
        "museum `{museum}` now publishes {}, not {} as when this change began; nothing was published",
        found.as_deref().unwrap_or("nothing"),
        expected.as_deref().unwrap_or("nothing")
    )]
    Moved { museum: String, expected: Option<String>, found: Option<String> },
    #[error("another index-builder is working on museum `{0}`; gave up waiting for it")]
    Busy(String),
    #[error("a bundle of museum `{found}` cannot be written under museum `{museum}`")]
    WrongMuseum { museum: String, found: String },
    #[error(transparent)]
    Bundle(#[from] recognizer::Error),
    #[error(transparent)]
    Media(#[from] crate::media::MediaError),
    #[error(transparent)]
    Search(#[from] catalog_search::SearchError),
    #[error(transparent)]
    Remote(#[from] bundle_store::Error),
}

/// The object store publishes also go to (`index-builder --store`), if any.
static REMOTE: std::sync::OnceLock<bundle_store::Remote> = std::sync::OnceLock::new();

/// From now on every [`publish`] first uploads the version to `remote` and
/// conditionally replaces the museum's pointer there.
pub fn use_remote(remote: bundle_store::Remote) {
    let _ = REMOTE.set(remote);
}

/// Uploads `version` and points the store's `CURRENT` at it, if it still
/// names `expected` (or nothing yet: see [`bundle_store::Remote::publish`]).
/// On its own thread and runtime, so it works from any caller.
fn publish_remote(
    remote: &bundle_store::Remote,
    lock: &MuseumLock,
    version: &str,
    expected: Option<&str>,
) -> Result<()> {
    let run = || -> Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(io("starting the bundle store client"))?;
        rt.block_on(async {
            let files = remote.upload(lock.root(), &lock.museum, version).await?;
            remote.publish(&lock.museum, version, expected).await?;
            tracing::info!(museum = %lock.museum, %version, files, store = remote.url(), "published to the bundle store");
            Ok(())
        })
    };
    std::thread::scope(|s| s.spawn(run).join()).unwrap_or_else(|_| {
        Err(io("publishing to the bundle store")(std::io::Error::other("the upload thread panicked")))
    })
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Io { context, source }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The right to change one museum's bundles: an exclusive OS lock on
/// `<root>/<museum>/.lock`, held until dropped.
#[derive(Debug)]
pub struct MuseumLock {
    museum: String,
    root: PathBuf,
    _file: File,
}

/// Lock file name inside a museum's bundle root.
pub const LOCK: &str = ".lock";

impl MuseumLock {
    /// Takes the lock of `museum` under `bundles`, waiting for another
    /// builder that holds it: for as long as it takes (`wait: None`), or up
    /// to `wait`, then [`StoreError::Busy`].
    pub fn acquire(bundles: &Path, museum: &str, wait: Option<Duration>) -> Result<Self> {
        let root = museum_root(bundles, museum)?;
        std::fs::create_dir_all(&root).map_err(io(format!("creating {}", root.display())))?;
        let path = root.join(LOCK);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(format!("opening {}", path.display())))?;
        let deadline = wait.map(|w| Instant::now() + w);
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(e)) => return Err(io(format!("locking {}", path.display()))(e)),
            }
            if !told {
                tracing::info!(%museum, "another index-builder is working on this museum; waiting for it");
                told = true;
            }
            match deadline {
                None => {
                    file.lock().map_err(io(format!("locking {}", path.display())))?;
                    break;
                }
                Some(d) if Instant::now() >= d => return Err(StoreError::Busy(museum.to_owned())),
                Some(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        Ok(Self { museum: museum.to_owned(), root, _file: file })
    }

    pub fn museum(&self) -> &str {
        &self.museum
    }

    /// The museum's bundle root (`versions/`, `CURRENT`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The published version, as of now (nothing else changes it while the lock is held).
    pub fn current(&self) -> Result<Option<String>> {
        Ok(current_version(&self.root)?)
    }
}

/// Points `CURRENT` at `version`, only if it still names `expected` (the
/// version the change started from; `None`: nothing published). Returns the
/// version it replaced.
pub fn publish(lock: &MuseumLock, version: &str, expected: Option<&str>) -> Result<Option<String>> {
    let root = lock.root();
    let dir = root.join("versions").join(version);
    if !dir.join(MANIFEST).is_file() {
        return Err(StoreError::NoSuchVersion(version.to_owned()));
    }
    let found = lock.current()?;
    if found.as_deref() != expected {
        return Err(StoreError::Moved { museum: lock.museum.clone(), expected: expected.map(str::to_owned), found });
    }
    // The store is what replicas serve: it changes first, and a publish it
    // refuses (unreachable, or moved on by another builder) changes nothing here.
    if let Some(remote) = REMOTE.get() {
        publish_remote(remote, lock, version, expected)?;
    }
    bundle_store::point_local(root, version).map_err(io("replacing CURRENT"))?;
    Ok(found)
}

/// Writes a new immutable version under the museum's `versions/` and returns
/// its manifest: the recognition files of `new`, and the media of its
/// records from `media`. The directory is written under a temporary name
/// and renamed into place, so a crash mid-write leaves no half-bundle under
/// a real version name.
pub fn write(
    lock: &MuseumLock,
    new: &Bundle,
    calibration: Calibration,
    media: &MediaSources,
    progress: &Progress,
) -> Result<BundleManifest> {
    if new.museum() != lock.museum {
        return Err(StoreError::WrongMuseum { museum: lock.museum.clone(), found: new.museum().to_owned() });
    }
    let versions = lock.root().join("versions");
    std::fs::create_dir_all(&versions).map_err(io("creating versions dir"))?;
    let tmp = tempfile::Builder::new().prefix(".tmp-").tempdir_in(&versions).map_err(io("creating temp dir"))?;

    new.index.write(&tmp.path().join(INDEX))?;
    write_json(&tmp.path().join(VECTORS), &new.vectors)?;
    write_json(&tmp.path().join(EXHIBITS), new.exhibits())?;
    let mut names = vec![INDEX, VECTORS, EXHIBITS];
    if let Some(local) = &new.local {
        write_file(&tmp.path().join(LOCAL), |w| local.write_to(w).map_err(io("writing local.bin")))?;
        names.push(LOCAL);
        if local.write_ivf(&tmp.path().join(LOCAL_IVF))? {
            names.push(LOCAL_IVF);
        }
    }
    let table = crate::media::write_media(tmp.path(), new.exhibits(), media, &|done, total| {
        progress.report("media", done, total)
    })?;
    write_json(&tmp.path().join(MEDIA), &table)?;
    names.push(MEDIA);
    progress.report("search", 0, 1);
    let search = tmp.path().join(catalog_search::DIR);
    catalog_search::write_index(&search, new.exhibits())?;
    progress.report("search", 1, 1);
    let mut search_files = Vec::new();
    for entry in std::fs::read_dir(&search).map_err(io("listing the search index"))? {
        let name = entry.map_err(io("listing the search index"))?.file_name();
        search_files.push(format!("{}/{}", catalog_search::DIR, name.to_string_lossy()));
    }
    let mut files = BTreeMap::new();
    for name in names.iter().copied().chain(search_files.iter().map(String::as_str)) {
        let sha = recognizer::sha256_file(&tmp.path().join(name)).map_err(io(format!("hashing {name}")))?;
        files.insert(name.to_owned(), sha);
    }
    let created_at = Utc::now();
    // Time first so names sort by age; the content hash keeps two builds in one second apart.
    let content_id = recognizer::sha256_bytes(serde_json::to_string(&files).unwrap_or_default().as_bytes());
    let version = format!("{}-{}", created_at.format("%Y%m%dT%H%M%S%.3fZ"), &content_id[..8]);
    let manifest = BundleManifest {
        format: FORMAT_VERSION,
        version: version.clone(),
        museum: new.museum().to_owned(),
        created_at,
        model: new.manifest.model.clone(),
        counts: new.manifest.counts.clone(),
        index_kind: new.manifest.index_kind.clone(),
        index_recall_at_10: new.manifest.index_recall_at_10,
        calibration,
        projection: new.manifest.projection.clone(),
        files,
    };
    write_json(&tmp.path().join(MANIFEST), &manifest)?;
    let final_dir = versions.join(&version);
    let tmp_path = tmp.keep();
    std::fs::rename(&tmp_path, &final_dir).map_err(io("renaming bundle into place"))?;
    sync_dir(&versions);
    Ok(manifest)
}

/// Publishes `to`, or else the newest version older than the published one.
/// Returns the version now published.
pub fn rollback(lock: &MuseumLock, to: Option<&str>) -> Result<String> {
    let current = lock.current()?;
    let target = match to {
        Some(v) => v.to_owned(),
        None => {
            let now = current.as_deref().ok_or(StoreError::NothingPublished)?;
            list_versions(lock.root())?
                .into_iter()
                .rev()
                .find(|v| v.as_str() < now)
                .ok_or_else(|| StoreError::NothingOlder(now.to_owned()))?
        }
    };
    publish(lock, &target, current.as_deref())?;
    Ok(target)
}

/// Deletes versions beyond the `keep` newest (at least one), never the
/// published one nor those in `protect` (what servers are serving, which
/// differs from the published one while a server refuses it), and temporary
/// directories of builds that died more than an hour ago. Returns the
/// versions removed.
pub fn gc(lock: &MuseumLock, keep: usize, protect: &[String]) -> Result<Vec<String>> {
    let root = lock.root();
    let current = lock.current()?;
    let versions = list_versions(root)?;
    let cut = versions.len().saturating_sub(keep.max(1));
    let mut removed = Vec::new();
    for v in &versions[..cut] {
        if current.as_deref() == Some(v.as_str()) || protect.contains(v) {
            continue;
        }
        // Rename first, so a reader never sees a half-deleted version.
        let dir = root.join("versions").join(v);
        let doomed = root.join("versions").join(format!(".gc-{v}"));
        std::fs::rename(&dir, &doomed).map_err(io(format!("retiring {v}")))?;
        std::fs::remove_dir_all(&doomed).map_err(io(format!("deleting {v}")))?;
        removed.push(v.clone());
    }
    if let Ok(entries) = std::fs::read_dir(root.join("versions")) {
        let stale = std::time::SystemTime::now() - Duration::from_secs(3600);
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let old = entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < stale);
            if (name.starts_with(".tmp-") || name.starts_with(".gc-")) && old {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    Ok(removed)
}

fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    write_file(path, |w| {
        serde_json::to_writer_pretty(w, value).map_err(|e| io(format!("writing {}", path.display()))(e.into()))
    })
}

/// Creates `path`, fills it through a buffer, and syncs it to disk.
fn write_file(path: &Path, fill: impl FnOnce(&mut std::io::BufWriter<File>) -> Result<()>) -> Result<()> {
    let file = File::create(path).map_err(io(format!("creating {}", path.display())))?;
    let mut w = std::io::BufWriter::new(file);
    fill(&mut w)?;
    let file = w.into_inner().map_err(|e| io("flushing")(e.into_error()))?;
    file.sync_all().map_err(io(format!("syncing {}", path.display())))
}

/// Makes a rename durable; best effort (not every filesystem allows it).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fake_version(lock: &MuseumLock, name: &str) {
        let dir = lock.root().join("versions").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(MANIFEST), "{}").unwrap();
    }

    #[test]
    fn the_lock_is_exclusive_and_freed_on_drop() {
        let root = tempfile::tempdir().unwrap();
        let held = MuseumLock::acquire(root.path(), "m1", None).unwrap();
        let t = Instant::now();
        let err = MuseumLock::acquire(root.path(), "m1", Some(Duration::from_millis(300))).unwrap_err();
        assert!(matches!(err, StoreError::Busy(ref m) if m == "m1"), "{err}");
        assert!(t.elapsed() >= Duration::from_millis(300));
        // Another museum is another lock.
        MuseumLock::acquire(root.path(), "m2", Some(Duration::ZERO)).unwrap();
        // A waiter gets it when the holder lets go.
        let waiter = std::thread::spawn({
            let root = root.path().to_owned();
            move || MuseumLock::acquire(&root, "m1", None).map(|l| l.museum().to_owned())
        });
        std::thread::sleep(Duration::from_millis(200));
        drop(held);
        assert_eq!(waiter.join().unwrap().unwrap(), "m1");
        assert!(matches!(MuseumLock::acquire(root.path(), "../x", None), Err(StoreError::Bundle(_))));
    }

    #[test]
    fn publishing_is_a_compare_and_swap_on_current() {
        let root = tempfile::tempdir().unwrap();
        let lock = MuseumLock::acquire(root.path(), "m", None).unwrap();
        for v in ["v1", "v2", "v3"] {
            fake_version(&lock, v);
        }
        assert!(matches!(publish(&lock, "v9", None), Err(StoreError::NoSuchVersion(_))));
        assert_eq!(publish(&lock, "v1", None).unwrap(), None);
        // A change that began before v1 was published is refused.
        let err = publish(&lock, "v2", None).unwrap_err();
        assert!(matches!(&err, StoreError::Moved { found: Some(f), .. } if f == "v1"), "{err}");
        assert_eq!(lock.current().unwrap().as_deref(), Some("v1"));
        assert_eq!(publish(&lock, "v3", Some("v1")).unwrap().as_deref(), Some("v1"));
        assert_eq!(rollback(&lock, None).unwrap(), "v2");
        assert_eq!(rollback(&lock, Some("v3")).unwrap(), "v3");
        assert_eq!(gc(&lock, 1, &["v1".to_owned()]).unwrap(), ["v2"], "a version a server serves is kept");
        assert_eq!(gc(&lock, 1, &[]).unwrap(), ["v1"]);
        assert_eq!(list_versions(lock.root()).unwrap(), ["v3"]);
        assert!(matches!(rollback(&lock, None), Err(StoreError::NothingOlder(_))));
        // gc never removes the published version, even past `keep`.
        fake_version(&lock, "v4");
        assert_eq!(gc(&lock, 1, &[]).unwrap(), Vec::<String>::new());
        assert_eq!(list_versions(lock.root()).unwrap(), ["v3", "v4"]);
    }
}
