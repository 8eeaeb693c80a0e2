//! Recognition results cached in Redis by photo hash.
//!
//! The cache is an optimisation, never a dependency: every Redis failure is
//! logged and treated as a miss, and commands time out quickly. When Redis is
//! down at start-up, the connection is retried lazily (at most once per
//! `RETRY_EVERY`) instead of blocking requests.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use recognizer::Recognition;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

const RETRY_EVERY: Duration = Duration::from_secs(5);

pub struct Cache {
    client: redis::Client,
    config: ConnectionManagerConfig,
    ttl_s: u64,
    conn: tokio::sync::Mutex<Option<ConnectionManager>>,
    last_attempt: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("ttl_s", &self.ttl_s).finish_non_exhaustive()
    }
}

impl Cache {
    pub fn new(url: &str, ttl_s: u64, timeout: Duration) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        Ok(Self { client, config, ttl_s, conn: tokio::sync::Mutex::new(None), last_attempt: Mutex::new(None) })
    }

    async fn connection(&self) -> Option<ConnectionManager> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Some(c.clone());
        }
        {
            let mut last = self.last_attempt.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < RETRY_EVERY) {
                return None;
            }
            *last = Some(Instant::now());
        }
        match self.client.get_connection_manager_with_config(self.config.clone()).await {
            Ok(c) => {
                tracing::info!("connected to redis");
                *slot = Some(c.clone());
                Some(c)
            }
            Err(e) => {
                tracing::warn!(error = %e, "redis unavailable; serving without cache");
                None
            }
        }
    }

    /// Whether Redis answers a PING right now.
    pub async fn ping(&self) -> bool {
        let Some(mut c) = self.connection().await else { return false };
        redis::cmd("PING").query_async::<String>(&mut c).await.is_ok()
    }

    pub fn key(bundle_version: &str, museum: Option<&str>, photo_sha256: &str) -> String {
        format!("mo:recognition:v1:{bundle_version}:{}:{photo_sha256}", museum.unwrap_or("*"))
    }

    pub async fn get(&self, key: &str) -> Option<Recognition> {
        let mut c = self.connection().await?;
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
        let Some(mut c) = self.connection().await else { return };
        let Ok(json) = serde_json::to_string(value) else { return };
        if let Err(e) = c.set_ex::<_, _, ()>(key, json, self.ttl_s).await {
            tracing::warn!(error = %e, "redis set failed");
        }
    }
}
