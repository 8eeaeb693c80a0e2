//! Recognition results cached in Redis by photo hash.
//!
//! The cache is an optimisation, never a dependency: every Redis failure is
//! logged and treated as a miss.

use std::sync::Arc;

use recognizer::Recognition;
use redis::AsyncCommands;

use crate::redis_store::RedisStore;

#[derive(Debug)]
pub struct Cache {
    store: Arc<RedisStore>,
    ttl_s: u64,
}

impl Cache {
    pub fn new(store: Arc<RedisStore>, ttl_s: u64) -> Self {
        Self { store, ttl_s }
    }

    /// The entry for a photo under the bundle versions in scope and museum;
    /// `None` when the cache is off (a TTL of 0, for benchmarks of the
    /// recognition path). A publish changes the versions, so old answers are
    /// never served for a new bundle.
    pub fn key(&self, versions: impl FnOnce() -> String, museum: Option<&str>, photo: &[u8]) -> Option<String> {
        (self.ttl_s > 0).then(|| {
            let sha = recognizer::sha256_bytes(photo);
            let scope = &recognizer::sha256_bytes(versions().as_bytes())[..16];
            format!("mo:recognition:v3:{scope}:{}:{sha}", museum.unwrap_or("*"))
        })
    }

    pub async fn get(&self, key: &str) -> Option<Recognition> {
        let mut c = self.store.connection().await?;
        match c.get::<_, Option<String>>(key).await {
            Ok(Some(json)) => serde_json::from_str(&json).ok(),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "redis get failed");
                None
            }
        }
    }

    pub async fn put(&self, key: &str, value: &Recognition) {
        let Some(mut c) = self.store.connection().await else { return };
        let Ok(json) = serde_json::to_string(value) else { return };
        if let Err(e) = c.set_ex::<_, _, ()>(key, json, self.ttl_s).await {
            tracing::warn!(error = %e, "redis set failed");
        }
    }
}
