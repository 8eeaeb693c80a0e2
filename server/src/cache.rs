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

    /// Whether answers are cached (a TTL of 0 turns the cache off, for
    /// benchmarks of the recognition path).
    pub fn enabled(&self) -> bool {
        self.ttl_s > 0
    }

    /// The entry for a photo (its sha256) under the bundle versions in
    /// scope and museum. A publish changes the versions, so old answers are
    /// never served for a new bundle.
    pub fn key(&self, versions: &str, museum: Option<&str>, photo_sha256: &str) -> String {
        let scope = &recognizer::sha256_bytes(versions.as_bytes())[..16];
        format!("mo:recognition:v3:{scope}:{}:{photo_sha256}", museum.unwrap_or("*"))
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
