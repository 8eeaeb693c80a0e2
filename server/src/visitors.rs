//! Per-visitor history and favorites in Redis.
//!
//! Both are sorted sets of exhibit ids scored by the time they were added, so
//! a re-added exhibit moves to the top instead of appearing twice. History
//! keeps the newest `HISTORY_MAX`; favorites are kept until removed.

use std::sync::Arc;

use redis::AsyncCommands;
use serde::Serialize;

use crate::error::ApiError;
use crate::redis_store::{RedisStore, unix_now};
use crate::sessions::store_error;

pub const HISTORY_MAX: isize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    History,
    Favorites,
}

impl List {
    fn key(self, openid: &str) -> String {
        let name = match self {
            List::History => "history",
            List::Favorites => "favorites",
        };
        format!("mo:visitor:{openid}:{name}")
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Entry {
    pub exhibit: String,
    /// Unix seconds.
    pub at: i64,
}

#[derive(Debug)]
pub struct Visitors {
    store: Arc<RedisStore>,
}

impl Visitors {
    pub fn new(store: Arc<RedisStore>) -> Self {
        Self { store }
    }

    pub async fn add(&self, list: List, openid: &str, exhibit: &str) -> Result<(), ApiError> {
        // Scored in milliseconds, and always above the newest entry: two adds
        // within one millisecond must still keep their order.
        const ADD: &str = r"
            local at = tonumber(ARGV[2])
            local top = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
            if top[2] and tonumber(top[2]) >= at then at = tonumber(top[2]) + 1 end
            redis.call('ZADD', KEYS[1], at, ARGV[1])
            local keep = tonumber(ARGV[3])
            if keep > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(keep + 1)) end
            return at";
        let keep = if list == List::History { HISTORY_MAX } else { 0 };
        let mut c = self.store.required().await?;
        redis::Script::new(ADD)
            .key(list.key(openid))
            .arg(exhibit)
            .arg(unix_now().as_millis() as i64)
            .arg(keep)
            .invoke_async::<i64>(&mut c)
            .await
            .map(drop)
            .map_err(store_error)
    }

    /// Whether the exhibit was on the list.
    pub async fn remove(&self, list: List, openid: &str, exhibit: &str) -> Result<bool, ApiError> {
        let mut c = self.store.required().await?;
        let n: u32 = c.zrem(list.key(openid), exhibit).await.map_err(store_error)?;
        Ok(n > 0)
    }

    /// Newest first: a page of entries and the list's length.
    pub async fn list(
        &self,
        list: List,
        openid: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Entry>, usize), ApiError> {
        let key = list.key(openid);
        let mut c = self.store.required().await?;
        let stop = (offset + limit) as isize - 1;
        let (items, total): (Vec<(String, i64)>, usize) = redis::pipe()
            .zrevrange_withscores(&key, offset as isize, stop)
            .zcard(&key)
            .query_async(&mut c)
            .await
            .map_err(store_error)?;
        Ok((items.into_iter().map(|(exhibit, ms)| Entry { exhibit, at: ms / 1000 }).collect(), total))
    }
}
