//! Shared application state: the recognizer, the loaded bundle, the queue,
//! Redis-backed stores, the WeChat client, metrics.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use recognizer::{Bundle, ExhibitKey, ExhibitRecord, ModelManifest, Recognizer};
use tokio::sync::Semaphore;

use crate::cache::Cache;
use crate::configuration::Settings;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::redis_store::RedisStore;
use crate::sessions::Sessions;
use crate::visitors::Visitors;
use crate::wechat::WechatClient;
use crate::wechat::token::AccessTokens;

/// Every museum's loaded bundle. Replaced as a whole when one museum's
/// bundle changes; a request holds the `Arc<Catalog>` it started with, so it
/// finishes on the bundles it began on.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    bundles: BTreeMap<String, Served>,
}

/// One museum's loaded bundle and what is derived from it once, on load.
#[derive(Debug, Clone)]
struct Served {
    bundle: Arc<Bundle>,
    /// The records' full-text search index.
    search: Arc<Search>,
    /// The languages the museum's records have titles in.
    languages: Arc<[String]>,
}

impl Catalog {
    pub fn museum(&self, id: &str) -> Option<&Arc<Bundle>> {
        self.bundles.get(id).map(|s| &s.bundle)
    }

    /// Museum ids and bundles, by id.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Arc<Bundle>)> {
        self.bundles.iter().map(|(m, s)| (m, &s.bundle))
    }

    /// The full-text search index of `museum`'s exhibits.
    pub fn search(&self, museum: &str) -> Option<&catalog_search::SearchIndex> {
        self.bundles.get(museum).map(|s| &s.search.index)
    }

    /// The languages `museum`'s records have titles in, most used first.
    pub fn languages(&self, museum: &str) -> &[String] {
        self.bundles.get(museum).map_or(&[], |s| &*s.languages)
    }

    pub fn bundles(&self) -> Vec<Arc<Bundle>> {
        self.bundles.values().map(|s| s.bundle.clone()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.bundles.is_empty()
    }

    /// An exhibit by its key (ids are unique within a museum only), with
    /// its museum's bundle.
    pub fn exhibit(&self, key: &ExhibitKey) -> Option<(&Arc<Bundle>, &ExhibitRecord)> {
        self.museum(&key.museum).and_then(|b| b.exhibit(&key.id).map(|e| (b, e)))
    }

    /// The museums (by id) whose published bundle has an exhibit `id`.
    pub fn museums_with<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        self.iter().filter(move |(_, b)| b.exhibit(id).is_some()).map(|(m, _)| m)
    }

    /// The exhibit a client names by id, with its museum if it said one.
    /// Without a museum the id must be unique across the published
    /// museums: an id several museums use is refused rather than answered
    /// with whichever museum comes first.
    pub fn resolve(&self, museum: Option<&str>, id: &str) -> Result<ExhibitKey, crate::error::ApiError> {
        use crate::error::ApiError;
        if let Some(m) = museum {
            let key = ExhibitKey::new(m, id);
            return match self.museum(m) {
                None => Err(ApiError::MuseumNotFound(m.to_owned())),
                Some(b) if b.exhibit(id).is_none() => Err(ApiError::ExhibitNotFound(id.to_owned())),
                Some(_) => Ok(key),
            };
        }
        let holders: Vec<&String> = self.museums_with(id).collect();
        match holders.as_slice() {
            [] => Err(ApiError::ExhibitNotFound(id.to_owned())),
            [one] => Ok(ExhibitKey::new(one.as_str(), id)),
            many => Err(ApiError::InvalidParameter {
                name: "museum",
                reason: format!(
                    "exhibit `{id}` is in several museums ({}); say which",
                    many.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ")
                ),
            }),
        }
    }
}

/// A bundle's search index: the one written into the version, or for a
/// version written before search, one built at load into a scratch folder
/// (removed with it).
#[derive(Debug)]
struct Search {
    index: catalog_search::SearchIndex,
    _scratch: Option<tempfile::TempDir>,
}

impl Search {
    fn of(bundle: &Bundle) -> Result<Self, recognizer::Error> {
        let fail = |e: catalog_search::SearchError| recognizer::Error::Bundle {
            path: bundle.dir.clone(),
            reason: format!("search index: {e}"),
        };
        let dir = bundle.dir.join(catalog_search::DIR);
        if bundle.manifest.files.keys().any(|f| f.starts_with(&format!("{}/", catalog_search::DIR))) {
            return Ok(Self { index: catalog_search::SearchIndex::open(&dir).map_err(fail)?, _scratch: None });
        }
        tracing::info!(version = bundle.version(), "no search index in this version; building one");
        let scratch = tempfile::tempdir()
            .map_err(|source| recognizer::Error::Io { context: "creating a search scratch folder".into(), source })?;
        catalog_search::write_index(scratch.path(), bundle.exhibits()).map_err(fail)?;
        Ok(Self { index: catalog_search::SearchIndex::open(scratch.path()).map_err(fail)?, _scratch: Some(scratch) })
    }
}

#[derive(Debug)]
pub struct AppState {
    pub recognizer: Recognizer,
    pub model: ModelManifest,
    pub settings: Settings,
    bundle_root: PathBuf,
    /// The bundles requests use (see [`Catalog`]).
    catalog: RwLock<Arc<Catalog>>,
    /// See [`AppState::catalog_complete`].
    catalog_complete: std::sync::atomic::AtomicBool,
    /// Permits for recognitions running or waiting; none left means 503.
    pub queue: Arc<Semaphore>,
    pub queue_capacity: usize,
    /// Permits for recognitions running (`recognizer.sessions`): each runs
    /// on one thread end to end (decode, model, keypoints, search), so this
    /// many use that many cores and the rest wait their turn instead of
    /// sharing the cores with them.
    pub running: Arc<Semaphore>,
    pub store: Arc<RedisStore>,
    pub cache: Cache,
    pub sessions: Sessions,
    pub visitors: Visitors,
    pub limiter: RateLimiter,
    pub wechat: Arc<WechatClient>,
    pub tokens: AccessTokens,
    pub metrics: Metrics,
    pub registry: crate::admin::Registry,
    pub jobs: Arc<crate::admin::Jobs>,
    pub analytics: crate::admin::Analytics,
    /// Set on SIGTERM: `/ready` answers 503 while requests still are served.
    pub draining: std::sync::atomic::AtomicBool,
}

impl AppState {
    pub fn new(recognizer: Recognizer, model: ModelManifest, settings: Settings) -> anyhow::Result<Self> {
        let timeout = std::time::Duration::from_millis(settings.redis.timeout_ms);
        let store = Arc::new(if settings.redis.cluster_nodes.is_empty() {
            RedisStore::new(&settings.redis.url, timeout)?
        } else {
            RedisStore::cluster(&settings.redis.cluster_nodes, timeout)?
        });
        let wechat = Arc::new(WechatClient::new(settings.wechat.api.clone())?);
        let queue_capacity = settings.recognizer.sessions + settings.recognizer.queue;
        Ok(Self {
            recognizer,
            model,
            bundle_root: settings.bundles.root.clone(),
            catalog: RwLock::new(Arc::new(Catalog::default())),
            catalog_complete: std::sync::atomic::AtomicBool::new(false),
            queue: Arc::new(Semaphore::new(queue_capacity)),
            queue_capacity,
            running: Arc::new(Semaphore::new(settings.recognizer.sessions)),
            cache: Cache::new(store.clone(), settings.redis.cache_ttl_s),
            sessions: Sessions::new(store.clone(), settings.sessions.ttl_s),
            visitors: Visitors::new(store.clone()),
            limiter: RateLimiter::new(store.clone()),
            tokens: AccessTokens::new(
                store.clone(),
                wechat.clone(),
                std::time::Duration::from_secs(settings.wechat.token_refresh_margin_s),
            ),
            wechat,
            registry: crate::admin::Registry::new(settings.admin.data_dir.clone()),
            jobs: Arc::new(
                crate::admin::Jobs::new(
                    store.clone(),
                    crate::admin::jobs::locate_builder(&settings.admin.index_builder),
                    builder_model_args(&settings),
                )
                .with_history(settings.admin.data_dir.clone()),
            ),
            analytics: crate::admin::Analytics::new(store.clone()),
            store,
            metrics: Metrics::new()?,
            draining: Default::default(),
            settings,
        })
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The catalog, or 503 `not_ready` while no museum's bundle is loaded.
    pub fn ready_catalog(&self) -> Result<Arc<Catalog>, crate::error::ApiError> {
        let catalog = self.catalog();
        if catalog.is_empty() { Err(crate::error::ApiError::NotReady) } else { Ok(catalog) }
    }

    /// Loads `museum`'s published bundle (checksums, model and dimension
    /// checked); on failure the previous one keeps serving.
    pub fn reload(&self, museum: &str) -> Result<String, recognizer::Error> {
        let root = recognizer::bundle::museum_root(&self.bundle_root, museum)?;
        let bundle = Arc::new(Bundle::load_current(&root, &self.model)?);
        let version = bundle.version().to_owned();
        let search = Arc::new(Search::of(&bundle)?);
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for tag in bundle.exhibits().iter().flat_map(|e| e.title.keys()) {
            *counts.entry(tag).or_default() += 1;
        }
        let mut languages: Vec<(&str, usize)> = counts.into_iter().collect();
        languages.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let languages = languages.into_iter().map(|(l, _)| l.to_owned()).collect();
        self.update_catalog(|c| {
            c.bundles.insert(museum.to_owned(), Served { bundle, search, languages });
        });
        Ok(version)
    }

    /// Stops serving a museum whose bundles were removed.
    pub fn unload(&self, museum: &str) {
        self.update_catalog(|c| {
            c.bundles.remove(museum);
        });
    }

    fn update_catalog(&self, change: impl FnOnce(&mut Catalog)) {
        let mut guard = self.catalog.write().unwrap_or_else(|p| p.into_inner());
        let mut next = Catalog::clone(&guard);
        change(&mut next);
        *guard = Arc::new(next);
    }

    /// Whether the last pass over the bundle root loaded a bundle of every
    /// museum that publishes one (none refused outright, none unreadable).
    pub fn catalog_complete(&self) -> bool {
        self.catalog_complete.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn set_catalog_complete(&self, complete: bool) {
        self.catalog_complete.store(complete, std::sync::atomic::Ordering::Release);
    }

    pub fn bundle_root(&self) -> &Path {
        &self.bundle_root
    }

    /// Recognitions running or waiting.
    pub fn queue_depth(&self) -> usize {
        self.queue_capacity - self.queue.available_permits()
    }
}

/// What a build job needs to load the same model as this server.
fn builder_model_args(settings: &Settings) -> Vec<String> {
    let mut args = vec!["--model".to_owned(), settings.recognizer.model.display().to_string()];
    if let Some(ort) = settings.ort_library() {
        args.extend(["--ort-lib".to_owned(), ort.display().to_string()]);
    }
    args.extend(["--threads".to_owned(), settings.admin.build_threads.to_string()]);
    args
}
