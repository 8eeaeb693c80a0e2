//! Shared application state: the recognizer, the loaded bundle, the queue,
//! Redis-backed stores, the WeChat client, metrics.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use recognizer::{Bundle, ModelManifest, Recognizer};
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

#[derive(Debug)]
pub struct AppState {
    pub recognizer: Recognizer,
    pub model: ModelManifest,
    pub settings: Settings,
    bundle_root: PathBuf,
    /// The bundle requests use. Each request clones the `Arc`, so a request
    /// that started on one version finishes on it even if another is loaded.
    bundle: RwLock<Option<Arc<Bundle>>>,
    /// Permits for recognitions running or waiting; none left means 503.
    pub queue: Arc<Semaphore>,
    pub queue_capacity: usize,
    pub store: Arc<RedisStore>,
    pub cache: Cache,
    pub sessions: Sessions,
    pub visitors: Visitors,
    pub limiter: RateLimiter,
    pub wechat: Arc<WechatClient>,
    pub tokens: AccessTokens,
    pub metrics: Metrics,
}

impl AppState {
    pub fn new(recognizer: Recognizer, model: ModelManifest, settings: Settings) -> anyhow::Result<Self> {
        let timeout = std::time::Duration::from_millis(settings.redis.timeout_ms);
        let store = Arc::new(RedisStore::new(&settings.redis.url, timeout)?);
        let wechat = Arc::new(WechatClient::new(settings.wechat.api.clone())?);
        let queue_capacity = (settings.recognizer.sessions + settings.recognizer.queue).max(1);
        Ok(Self {
            recognizer,
            model,
            bundle_root: settings.bundles.root.clone(),
            bundle: RwLock::new(None),
            queue: Arc::new(Semaphore::new(queue_capacity)),
            queue_capacity,
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
            store,
            metrics: Metrics::new()?,
            settings,
        })
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

    /// Recognitions running or waiting.
    pub fn queue_depth(&self) -> usize {
        self.queue_capacity - self.queue.available_permits()
    }
}
