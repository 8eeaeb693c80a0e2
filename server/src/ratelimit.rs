//! Fixed-window request limits in Redis, shared by every server process.
//!
//! One counter per (scope, caller, minute): `INCR` then `EXPIRE` in one
//! transaction. A limit protects the service, not the visitor's data, so
//! when Redis is down requests pass (logged) rather than fail.

use std::sync::Arc;

use crate::error::ApiError;
use crate::redis_store::{RedisStore, unix_now};

const WINDOW_S: u64 = 60;

#[derive(Debug)]
pub struct RateLimiter {
    store: Arc<RedisStore>,
}

impl RateLimiter {
    pub fn new(store: Arc<RedisStore>) -> Self {
        Self { store }
    }

    /// Counts one request by `caller` in `scope`; refuses it beyond `per_minute`.
    pub async fn check(&self, scope: &str, caller: &str, per_minute: u32) -> Result<(), ApiError> {
        if per_minute == 0 {
            return Ok(());
        }
        let Some(mut c) = self.store.connection().await else { return Ok(()) };
        let now = unix_now().as_secs();
        let window = now / WINDOW_S;
        let key = format!("mo:ratelimit:{scope}:{caller}:{window}");
        let counted: Result<(u64,), _> =
            redis::pipe().atomic().incr(&key, 1).expire(&key, (WINDOW_S + 1) as i64).ignore().query_async(&mut c).await;
        match counted {
            Ok((n,)) if n > u64::from(per_minute) => {
                Err(ApiError::RateLimited { retry_after_s: WINDOW_S - now % WINDOW_S })
            }
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "rate limit check failed; letting the request through");
                Ok(())
            }
        }
    }
}
