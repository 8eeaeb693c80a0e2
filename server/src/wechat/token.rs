//! The app's `access_token`, cached in Redis and refreshed before it expires
//! by one refresher at a time, however many server processes share Redis.
//!
//! The token lives under `TOKEN_KEY` with Redis expiring it when WeChat
//! would. A process that finds it missing, or within `margin` of expiry,
//! takes `LOCK_KEY` (`SET NX PX`, a random owner value) and calls
//! `stable_token`; the others wait for the new value instead of calling
//! WeChat too (each `stable_token` call counts against the app's quota).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use redis::AsyncCommands;

use super::{WechatClient, WechatError};
use crate::redis_lock::Lease;
use crate::redis_store::RedisStore;

pub const TOKEN_KEY: &str = "mo:wechat:access_token";
pub const LOCK_KEY: &str = "mo:wechat:access_token:lock";
/// Longest a refresher may hold the lock (a WeChat call plus retries).
const LOCK_TTL: Duration = Duration::from_secs(15);
const WAIT_STEP: Duration = Duration::from_millis(50);

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("redis is unavailable")]
    StoreDown,
    #[error(transparent)]
    Wechat(#[from] WechatError),
    #[error("another process is refreshing the token and has not finished")]
    Timeout,
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

#[derive(Debug, Clone)]
pub struct AccessTokens {
    store: Arc<RedisStore>,
    client: Arc<WechatClient>,
    /// Refresh when less than this is left.
    margin: Duration,
}

impl AccessTokens {
    pub fn new(store: Arc<RedisStore>, client: Arc<WechatClient>, margin: Duration) -> Self {
        Self { store, client, margin }
    }

    /// A valid token, refreshing it first if it is missing or about to expire.
    pub async fn get(&self) -> Result<String, TokenError> {
        let mut conn = self.store.connection().await.ok_or(TokenError::StoreDown)?;
        let deadline = tokio::time::Instant::now() + LOCK_TTL;
        loop {
            let (token, pttl): (Option<String>, i64) =
                redis::pipe().get(TOKEN_KEY).pttl(TOKEN_KEY).query_async(&mut conn).await?;
            let fresh = token.as_ref().is_some_and(|_| pttl > self.margin.as_millis() as i64);
            if let (true, Some(t)) = (fresh, &token) {
                return Ok(t.clone());
            }
            let owner = hex::encode(rand::rng().random::<[u8; 16]>());
            if let Some(lease) = Lease::try_acquire(&mut conn, LOCK_KEY, &owner, LOCK_TTL).await? {
                let result = self.refresh(&mut conn).await;
                // Only our own lease is released (it may have expired and been taken).
                let _ = lease.release(&mut conn).await;
                return result;
            }
            // Someone else is refreshing: a still-valid old token will do meanwhile.
            if let (true, Some(t)) = (pttl > 0, token) {
                return Ok(t);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(TokenError::Timeout);
            }
            tokio::time::sleep(WAIT_STEP).await;
        }
    }

    async fn refresh(&self, conn: &mut crate::redis_store::Conn) -> Result<String, TokenError> {
        let fresh = self.client.stable_token(false).await?;
        let ttl_ms = fresh.expires_in.saturating_mul(1000).max(1);
        conn.pset_ex::<_, _, ()>(TOKEN_KEY, &fresh.access_token, ttl_ms).await?;
        tracing::info!(expires_in = fresh.expires_in, "wechat access token refreshed");
        Ok(fresh.access_token)
    }

    /// Keeps the token fresh in the background (every process runs this; the
    /// lock makes only one of them call WeChat).
    pub async fn keep_fresh(self, every: Duration) {
        loop {
            if let Err(e) = self.get().await {
                tracing::warn!(error = %e, "wechat access token refresh failed");
            }
            tokio::time::sleep(every).await;
        }
    }
}
