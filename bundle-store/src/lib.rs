//! Bundles in S3-protocol object storage, for deployments past one disk.
//!
//! ```text
//! <prefix>/<museum>/versions/<version>/<file>   immutable; manifest.json written last
//! <prefix>/<museum>/CURRENT                     the published version (one line)
//! ```
//!
//! The builder writes a version on its own disk as always (the local
//! bundle root), then [`Remote::upload`]s it and [`Remote::publish`]es it by
//! a conditional write of the museum's `CURRENT` object: created only if
//! absent, replaced only if its ETag is still the one read, so of two racing
//! publishes one wins and the other is told. Replicas [`Remote::pull`] a
//! newly published version into their local bundle root (a cache) and point
//! their local `CURRENT` at it ([`point_local`]); the server then loads it as
//! any local bundle, checksums and model checked, so a corrupt or mismatched
//! version is refused and the old one keeps serving.
//!
//! The client is `object_store`'s S3 client, configured from the standard
//! `AWS_*` environment variables (`AWS_ENDPOINT` for any S3-compatible store,
//! Tencent COS included; `AWS_ALLOW_HTTP` for a store on plain HTTP); every
//! request has short timeouts and few retries, so an unreachable store fails
//! a publish in seconds instead of hanging it.

use std::path::{Component, Path};
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path as StorePath;
use object_store::{ClientOptions, ObjectStore, PutMode, PutOptions, PutPayload, RetryConfig, UpdateVersion};
use recognizer::bundle::{CURRENT, MANIFEST};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the bundle store {url} did not answer as expected: {source}")]
    Store { url: String, source: object_store::Error },
    #[error(
        "museum `{museum}` now publishes {} in the bundle store, not {} as when this publish began; nothing was published",
        found.as_deref().unwrap_or("nothing"),
        expected.as_deref().unwrap_or("nothing")
    )]
    Moved { museum: String, expected: Option<String>, found: Option<String> },
    #[error("version `{version}` of museum `{museum}` is not in the bundle store")]
    NoSuchVersion { museum: String, version: String },
    #[error("the bundle store holds `{0}` where a museum or version name belongs")]
    BadName(String),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("bundle store `{0}`: only s3://bucket[/prefix] URLs are supported")]
    Url(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// A version name as the builder makes them (`20261203T140000.123Z-1a2b3c4d`):
/// no separators, nothing that could leave a folder.
pub fn valid_version(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && !v.starts_with('.')
        && v.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// The museum's published version in the store, and the ETag that a
/// conditional replace must name.
#[derive(Debug, Clone)]
pub struct Published {
    pub version: String,
    tag: UpdateVersion,
}

pub struct Remote {
    store: Arc<dyn ObjectStore>,
    prefix: StorePath,
    url: String,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("url", &self.url).finish_non_exhaustive()
    }
}

impl Remote {
    /// The store at `s3://bucket[/prefix]`, configured from `AWS_*` variables.
    pub fn open(url: &str) -> Result<Self> {
        let parsed = url.strip_prefix("s3://").ok_or_else(|| Error::Url(url.to_owned()))?;
        let (bucket, prefix) = parsed.split_once('/').unwrap_or((parsed, ""));
        if bucket.is_empty() {
            return Err(Error::Url(url.to_owned()));
        }
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_retry(RetryConfig {
                max_retries: 2,
                retry_timeout: Duration::from_secs(10),
                ..RetryConfig::default()
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(2))
                    .with_timeout(Duration::from_secs(60))
                    .with_allow_http(std::env::var("AWS_ALLOW_HTTP").is_ok_and(|v| v == "true")),
            )
            .build()
            .map_err(|source| Error::Store { url: url.to_owned(), source })?;
        Ok(Self { store: Arc::new(store), prefix: StorePath::from(prefix.trim_matches('/')), url: url.to_owned() })
    }

    /// Over any `object_store` (tests: `InMemory`).
    pub fn with_store(store: Arc<dyn ObjectStore>, url: &str) -> Self {
        Self { store, prefix: StorePath::default(), url: url.to_owned() }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, museum: &str, rest: &[&str]) -> StorePath {
        let mut p = self.prefix.child(museum);
        for part in rest {
            p = p.child(*part);
        }
        p
    }

    fn fail(&self) -> impl FnOnce(object_store::Error) -> Error + '_ {
        move |source| Error::Store { url: self.url.clone(), source }
    }

    /// The museums that have a folder in the store.
    pub async fn museums(&self) -> Result<Vec<String>> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let listed = self.store.list_with_delimiter(prefix).await.map_err(self.fail())?;
        Ok(listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_owned))
            .filter(|m| recognizer::bundle::valid_museum_id(m))
            .collect())
    }

    /// What `museum` publishes in the store, if anything.
    pub async fn published(&self, museum: &str) -> Result<Option<Published>> {
        let got = match self.store.get(&self.path(museum, &[CURRENT])).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.fail()(e)),
        };
        let tag = UpdateVersion { e_tag: got.meta.e_tag.clone(), version: got.meta.version.clone() };
        let bytes = got.bytes().await.map_err(self.fail())?;
        let version = String::from_utf8_lossy(&bytes).trim().to_owned();
        if !valid_version(&version) {
            return Err(Error::BadName(version));
        }
        Ok(Some(Published { version, tag }))
    }

    /// Whether the store holds all of `version` (its manifest goes last).
    pub async fn has_version(&self, museum: &str, version: &str) -> Result<bool> {
        match self.store.head(&self.path(museum, &["versions", version, MANIFEST])).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.fail()(e)),
        }
    }

    /// Uploads `<museum_root>/versions/<version>/` unless the store already
    /// holds it (versions are immutable): every file, the manifest last, so
    /// a version is complete in the store once its manifest is there.
    /// Returns the files uploaded.
    pub async fn upload(&self, museum_root: &Path, museum: &str, version: &str) -> Result<usize> {
        if !valid_version(version) {
            return Err(Error::BadName(version.to_owned()));
        }
        if self.has_version(museum, version).await? {
            return Ok(0);
        }
        let dir = museum_root.join("versions").join(version);
        let mut files = Vec::new();
        walk(&dir, &dir, &mut files)?;
        files.sort_by_key(|rel| rel == MANIFEST);
        for rel in &files {
            let bytes = std::fs::read(dir.join(rel)).map_err(io(format!("reading {rel}")))?;
            let mut path = self.path(museum, &["versions", version]);
            for part in rel.split('/') {
                path = path.child(part);
            }
            self.store.put(&path, PutPayload::from(bytes)).await.map_err(self.fail())?;
        }
        Ok(files.len())
    }

    /// Points the museum's `CURRENT` object at `version` (uploaded before),
    /// only if it still names `expected`: a conditional write, so two
    /// publishes racing from different machines cannot both win. A museum
    /// the store holds nothing for yet takes the publish whatever was
    /// expected: its first publish there seeds it (a builder that published
    /// on its own disk before it had a store).
    pub async fn publish(&self, museum: &str, version: &str, expected: Option<&str>) -> Result<()> {
        if !self.has_version(museum, version).await? {
            return Err(Error::NoSuchVersion { museum: museum.to_owned(), version: version.to_owned() });
        }
        let current = self.published(museum).await?;
        let moved = |found: Option<String>| Error::Moved {
            museum: museum.to_owned(),
            expected: expected.map(str::to_owned),
            found,
        };
        if current.as_ref().is_some_and(|p| Some(p.version.as_str()) != expected) {
            return Err(moved(current.map(|p| p.version)));
        }
        let mode = match current {
            Some(p) => PutMode::Update(p.tag),
            None => PutMode::Create,
        };
        let options = PutOptions { mode, ..PutOptions::default() };
        let body = PutPayload::from(format!("{version}\n").into_bytes());
        match self.store.put_opts(&self.path(museum, &[CURRENT]), body, options).await {
            Ok(_) => Ok(()),
            Err(object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }) => {
                Err(moved(self.published(museum).await?.map(|p| p.version)))
            }
            Err(e) => Err(self.fail()(e)),
        }
    }

    /// Downloads `version` into `<museum_root>/versions/<version>/` (under
    /// a temporary name, renamed into place when complete), unless it is
    /// there already. Returns the files downloaded.
    pub async fn pull(&self, museum: &str, version: &str, museum_root: &Path) -> Result<usize> {
        if !valid_version(version) {
            return Err(Error::BadName(version.to_owned()));
        }
        let versions = museum_root.join("versions");
        let target = versions.join(version);
        if target.join(MANIFEST).is_file() {
            return Ok(0);
        }
        let prefix = self.path(museum, &["versions", version]);
        let objects: Vec<_> = self.store.list(Some(&prefix)).try_collect().await.map_err(self.fail())?;
        if !objects.iter().any(|o| o.location.filename() == Some(MANIFEST)) {
            return Err(Error::NoSuchVersion { museum: museum.to_owned(), version: version.to_owned() });
        }
        std::fs::create_dir_all(&versions).map_err(io("creating versions dir"))?;
        let tmp = tempfile::Builder::new().prefix(".pull-").tempdir_in(&versions).map_err(io("creating temp dir"))?;
        for object in &objects {
            let rel: Vec<String> =
                object.location.prefix_match(&prefix).into_iter().flatten().map(|p| p.as_ref().to_owned()).collect();
            let rel = rel.join("/");
            let safe = !rel.is_empty() && Path::new(&rel).components().all(|c| matches!(c, Component::Normal(_)));
            if !safe {
                return Err(Error::BadName(rel));
            }
            let bytes =
                self.store.get(&object.location).await.map_err(self.fail())?.bytes().await.map_err(self.fail())?;
            let file = tmp.path().join(&rel);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent).map_err(io(format!("creating the folder of {rel}")))?;
            }
            std::fs::write(&file, &bytes).map_err(io(format!("writing {rel}")))?;
        }
        let tmp = tmp.keep();
        if let Err(e) = std::fs::rename(&tmp, &target) {
            let _ = std::fs::remove_dir_all(&tmp);
            // Another puller (or the builder) put it there first.
            if !target.join(MANIFEST).is_file() {
                return Err(io("renaming the pulled version into place")(e));
            }
        }
        Ok(objects.len())
    }
}

/// Points `<museum_root>/CURRENT` at `version`: a temporary file, synced,
/// renamed over it, the folder synced. The one way `CURRENT` is written, by
/// the builder's store and by a replica that has pulled a version.
pub fn point_local(museum_root: &Path, version: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp = tempfile::NamedTempFile::new_in(museum_root)?;
    writeln!(tmp, "{version}")?;
    tmp.as_file().sync_all()?;
    tmp.persist(museum_root.join(CURRENT)).map_err(|e| e.error)?;
    if let Ok(dir) = std::fs::File::open(museum_root) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Every file under `dir`, as `/`-separated paths relative to `base`.
fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(io(format!("listing {}", dir.display())))? {
        let entry = entry.map_err(io(format!("listing {}", dir.display())))?;
        let path = entry.path();
        if entry.file_type().map_err(io("reading a file type"))?.is_dir() {
            walk(base, &path, out)?;
        } else {
            let rel = path.strip_prefix(base).unwrap_or(&path);
            out.push(rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn version_dir(root: &Path, v: &str) {
        let dir = root.join("versions").join(v);
        std::fs::create_dir_all(dir.join("media")).unwrap();
        std::fs::write(dir.join("index.faiss"), b"index").unwrap();
        std::fs::write(dir.join("media/ab12.jpg"), b"jpeg").unwrap();
        std::fs::write(dir.join(MANIFEST), format!("{{\"version\":\"{v}\"}}")).unwrap();
    }

    fn memory() -> Remote {
        Remote::with_store(Arc::new(object_store::memory::InMemory::new()), "memory://")
    }

    #[tokio::test]
    async fn a_version_goes_up_whole_and_comes_down_whole() {
        let (builder, replica) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        version_dir(builder.path(), "v1");
        let remote = memory();
        assert_eq!(remote.upload(builder.path(), "m", "v1").await.unwrap(), 3);
        assert_eq!(remote.upload(builder.path(), "m", "v1").await.unwrap(), 0, "immutable: not sent twice");
        remote.publish("m", "v1", None).await.unwrap();
        assert_eq!(remote.museums().await.unwrap(), ["m"]);
        let published = remote.published("m").await.unwrap().unwrap();
        assert_eq!(published.version, "v1");
        assert_eq!(remote.pull("m", "v1", replica.path()).await.unwrap(), 3);
        point_local(replica.path(), "v1").unwrap();
        let got = replica.path().join("versions/v1");
        assert_eq!(std::fs::read(got.join("media/ab12.jpg")).unwrap(), b"jpeg");
        assert_eq!(std::fs::read_to_string(replica.path().join(CURRENT)).unwrap(), "v1\n");
        assert_eq!(remote.pull("m", "v1", replica.path()).await.unwrap(), 0, "already here");
        // No temporary folder is left behind.
        let left: Vec<_> = std::fs::read_dir(replica.path().join("versions")).unwrap().collect();
        assert_eq!(left.len(), 1);
    }

    #[tokio::test]
    async fn publishing_is_a_compare_and_swap_and_needs_the_version_uploaded() {
        let builder = tempfile::tempdir().unwrap();
        for v in ["v1", "v2", "v3"] {
            version_dir(builder.path(), v);
        }
        let remote = memory();
        let err = remote.publish("m", "v1", None).await.unwrap_err();
        assert!(matches!(err, Error::NoSuchVersion { .. }), "{err}");
        for v in ["v1", "v2", "v3"] {
            remote.upload(builder.path(), "m", v).await.unwrap();
        }
        remote.publish("m", "v1", None).await.unwrap();
        // A second "first publish" lost the race.
        let err = remote.publish("m", "v2", None).await.unwrap_err();
        assert!(matches!(&err, Error::Moved { found: Some(f), .. } if f == "v1"), "{err}");
        remote.publish("m", "v2", Some("v1")).await.unwrap();
        // A publish that started from v1 finds v2 and publishes nothing.
        let err = remote.publish("m", "v3", Some("v1")).await.unwrap_err();
        assert!(err.to_string().contains("now publishes v2"), "{err}");
        assert_eq!(remote.published("m").await.unwrap().unwrap().version, "v2");
    }

    #[tokio::test]
    async fn a_half_uploaded_version_is_not_pulled_and_bad_names_are_refused() {
        let replica = tempfile::tempdir().unwrap();
        let store = Arc::new(object_store::memory::InMemory::new());
        let remote = Remote::with_store(store.clone(), "memory://");
        // Files but no manifest: an upload that stopped halfway.
        store.put(&StorePath::from("m/versions/v1/index.faiss"), PutPayload::from_static(b"x")).await.unwrap();
        let err = remote.pull("m", "v1", replica.path()).await.unwrap_err();
        assert!(matches!(err, Error::NoSuchVersion { .. }), "{err}");
        assert!(!replica.path().join("versions/v1").exists());
        store.put(&StorePath::from("m/CURRENT"), PutPayload::from_static(b"../../etc\n")).await.unwrap();
        assert!(matches!(remote.published("m").await.unwrap_err(), Error::BadName(_)));
        assert!(matches!(remote.pull("m", "../x", replica.path()).await.unwrap_err(), Error::BadName(_)));
        assert!(matches!(Remote::open("file:///tmp/x").unwrap_err(), Error::Url(_)));
    }
}
