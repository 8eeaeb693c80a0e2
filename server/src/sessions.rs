//! Visitor sessions: our own opaque token for a WeChat identity.
//!
//! The token goes to the client; `openid` and `session_key` stay in Redis
//! under the token's SHA-256 (so a Redis dump holds no usable token), with
//! the session's expiry as the key's TTL.

use std::sync::Arc;

use rand::Rng;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::redis_store::{RedisStore, unix_now};
use crate::wechat::Code2Session;

#[derive(Clone, Serialize, Deserialize)]
pub struct Session {
    pub openid: String,
    pub session_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    pub created_at: i64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("openid", &self.openid).finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub struct Sessions {
    store: Arc<RedisStore>,
    pub ttl_s: u64,
}

fn key(token: &str) -> String {
    format!("mo:session:{}", hex::encode(Sha256::digest(token.as_bytes())))
}

impl Sessions {
    pub fn new(store: Arc<RedisStore>, ttl_s: u64) -> Self {
        Self { store, ttl_s }
    }

    /// Stores the identity and returns the new session token.
    pub async fn create(&self, identity: Code2Session) -> Result<String, ApiError> {
        let token = hex::encode(rand::rng().random::<[u8; 32]>());
        let session = Session {
            openid: identity.openid,
            session_key: identity.session_key,
            unionid: identity.unionid,
            created_at: unix_now().as_secs() as i64,
        };
        let json = serde_json::to_string(&session).map_err(|e| ApiError::Internal(e.into()))?;
        let mut c = self.store.required().await?;
        c.set_ex::<_, _, ()>(key(&token), json, self.ttl_s).await.map_err(store_error)?;
        Ok(token)
    }

    /// The session behind a token; `None` if unknown or expired.
    pub async fn get(&self, token: &str) -> Result<Option<Session>, ApiError> {
        let mut c = self.store.required().await?;
        let json: Option<String> = c.get(key(token)).await.map_err(store_error)?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    /// Ends a session; whether it existed.
    pub async fn delete(&self, token: &str) -> Result<bool, ApiError> {
        let mut c = self.store.required().await?;
        let n: u32 = c.del(key(token)).await.map_err(store_error)?;
        Ok(n > 0)
    }
}

pub fn store_error(e: redis::RedisError) -> ApiError {
    tracing::warn!(error = %e, "redis command failed");
    ApiError::StoreUnavailable
}
