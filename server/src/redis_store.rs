//! One lazily connected Redis connection, shared by the cache, sessions,
//! rate limits, history and the WeChat token.
//!
//! Commands time out quickly. When Redis is down, connecting is retried at
//! most once per `RETRY_EVERY` instead of on every request, so a dead Redis
//! costs requests nothing but a failed lookup.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

const RETRY_EVERY: Duration = Duration::from_secs(5);

/// Time since the Unix epoch (what Redis-stored timestamps and windows use).
pub fn unix_now() -> Duration {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default()
}

pub struct RedisStore {
    client: redis::Client,
    config: ConnectionManagerConfig,
    conn: tokio::sync::Mutex<Option<ConnectionManager>>,
    last_attempt: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").finish_non_exhaustive()
    }
}

impl RedisStore {
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        Ok(Self { client, config, conn: tokio::sync::Mutex::new(None), last_attempt: Mutex::new(None) })
    }

    /// A connection, or `None` while Redis is unreachable.
    pub async fn connection(&self) -> Option<ConnectionManager> {
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
                tracing::warn!(error = %e, "redis unavailable");
                None
            }
        }
    }

    /// A connection for data that lives only in Redis (sessions, history):
    /// without one the request fails with 503 `store_unavailable`.
    pub async fn required(&self) -> Result<ConnectionManager, crate::error::ApiError> {
        self.connection().await.ok_or(crate::error::ApiError::StoreUnavailable)
    }

    /// Whether Redis answers a PING right now.
    pub async fn ping(&self) -> bool {
        let Some(mut c) = self.connection().await else { return false };
        redis::cmd("PING").query_async::<String>(&mut c).await.is_ok()
    }
}
