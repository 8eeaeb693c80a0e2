//! Per-museum recognition analytics in Redis: answers by status,
//! recognitions per exhibit, and the photos that most often found no match
//! (by sha256: the same photo failing again and again points at an exhibit
//! missing from the collection or a bad catalog image).
//!
//! Counting is best effort: a Redis failure is logged, never returned.

use std::sync::Arc;

use recognizer::{Decision, Recognition};
use serde::Serialize;

use crate::redis_store::RedisStore;

/// Museum key for recognitions run across every museum that matched nothing.
pub const ALL: &str = "_all";

#[derive(Debug)]
pub struct Analytics {
    store: Arc<RedisStore>,
}

#[derive(Debug, Serialize)]
pub struct Ranked {
    pub id: String,
    pub count: u64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub museum: String,
    pub recognitions: u64,
    pub matched: u64,
    pub ambiguous: u64,
    pub no_match: u64,
    pub no_match_rate: f64,
    pub top_exhibits: Vec<Ranked>,
    /// Photos (sha256) that found no match, most often first.
    pub most_missed: Vec<Ranked>,
    /// Distinct photos that found no match.
    pub missed_photos: u64,
    /// Answers by status on each of the last [`DAYS`] days (UTC), oldest first.
    pub daily: Vec<Day>,
}

/// One day's answers.
#[derive(Debug, Serialize, PartialEq)]
pub struct Day {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    pub matched: u64,
    pub ambiguous: u64,
    pub no_match: u64,
}

/// Days the report goes back.
pub const DAYS: i64 = 30;

/// How long a day's counts are kept.
const DAY_TTL_S: i64 = 400 * 86_400;

/// The last `days` dates up to `today`, oldest first.
fn last_days(today: chrono::NaiveDate, days: i64) -> Vec<String> {
    (0..days).rev().map(|back| (today - chrono::Duration::days(back)).format("%Y-%m-%d").to_string()).collect()
}

/// A museum's counters share a hash tag, so one recognition's counts go
/// in one pipeline to one Redis Cluster slot.
fn key(museum: &str, what: &str) -> String {
    format!("mo:analytics:v2:{{{museum}}}:{what}")
}

/// Counters written before keys carried a hash tag (single node only).
const LEGACY_PATTERN: &str = "mo:analytics:v1:*";

/// The tagged key of a legacy counter, `mo:analytics:v1:{museum}:{what}`
/// (museum ids have no `:`), if it is one.
fn from_legacy(legacy: &str) -> Option<String> {
    let (museum, what) = legacy.strip_prefix("mo:analytics:v1:")?.split_once(':')?;
    recognizer::bundle::valid_museum_id(museum)
        .then(|| key(museum, what))
        .or_else(|| (museum == ALL).then(|| key(ALL, what)))
}

/// Adds a legacy counter (a hash or sorted set) into its tagged key, keeps
/// the longer expiry, and deletes it: one script, so a counter is moved once
/// even when several servers migrate at the same time.
const MERGE: &str = r"
    local kind = redis.call('TYPE', KEYS[1]).ok
    if kind == 'hash' then
      local kv = redis.call('HGETALL', KEYS[1])
      for i = 1, #kv, 2 do redis.call('HINCRBY', KEYS[2], kv[i], kv[i + 1]) end
    elseif kind == 'zset' then
      local kv = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
      for i = 1, #kv, 2 do redis.call('ZINCRBY', KEYS[2], kv[i + 1], kv[i]) end
    else
      return 0
    end
    local ttl = redis.call('PTTL', KEYS[1])
    if ttl > 0 and redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
    redis.call('DEL', KEYS[1])
    return 1";

impl Analytics {
    pub fn new(store: Arc<RedisStore>) -> Self {
        Self { store }
    }

    /// Moves counters kept under untagged keys to the tagged ones (a single
    /// node only: a cluster never held them); how many it moved.
    pub async fn migrate_legacy(&self) -> Result<usize, redis::RedisError> {
        if self.store.is_cluster() {
            return Ok(0);
        }
        let Some(mut c) = self.store.connection().await else {
            return Err(redis::RedisError::from((redis::ErrorKind::Io, "redis unavailable")));
        };
        let mut legacy = Vec::new();
        {
            let options = redis::ScanOptions::default().with_pattern(LEGACY_PATTERN).with_count(1000);
            let mut keys = redis::AsyncCommands::scan_options::<String>(&mut c, options).await?;
            while let Some(k) = keys.next_item().await {
                legacy.push(k?);
            }
        }
        let merge = redis::Script::new(MERGE);
        let mut moved = 0;
        for old in legacy {
            let Some(new) = from_legacy(&old) else { continue };
            moved += merge.key(&old).key(&new).invoke_async::<usize>(&mut c).await?;
        }
        Ok(moved)
    }

    /// Counts one answer: under the museum it was scoped to, or (across all
    /// museums) under the museum that matched, else [`ALL`].
    /// `photo_sha256` is needed only when nothing matched.
    pub async fn record(&self, scope: Option<&str>, r: &Recognition, photo_sha256: Option<&str>) {
        let Some(mut c) = self.store.connection().await else { return };
        let status = r.decision.status();
        let matched = r.matched();
        let museum = scope.or(matched.map(|c| c.exhibit.museum.as_str())).unwrap_or(ALL);
        let mut pipe = redis::pipe();
        pipe.hincr(key(museum, "status"), status, 1).ignore();
        let day = key(museum, &format!("day:{}", chrono::Utc::now().format("%Y-%m-%d")));
        pipe.hincr(&day, status, 1).ignore().expire(&day, DAY_TTL_S).ignore();
        // An exhibit counts under its own museum (the scope, when scoped).
        if let Some(c) = matched {
            pipe.zincr(key(&c.exhibit.museum, "exhibits"), &c.exhibit.id, 1).ignore();
        }
        if let (Decision::NoMatch { .. }, Some(sha)) = (&r.decision, photo_sha256) {
            pipe.zincr(key(museum, "missed"), sha, 1).ignore();
        }
        if let Err(e) = pipe.query_async::<()>(&mut c).await {
            tracing::warn!(error = %e, "analytics not recorded");
        }
    }

    pub async fn report(&self, museum: &str, top: usize) -> Result<Report, crate::error::ApiError> {
        let mut c = self.store.required().await?;
        type Counts = Vec<(String, u64)>;
        let (status, exhibits, missed, missed_photos): (std::collections::HashMap<String, u64>, Counts, Counts, u64) =
            redis::pipe()
                .hgetall(key(museum, "status"))
                .zrevrange_withscores(key(museum, "exhibits"), 0, top as isize - 1)
                .zrevrange_withscores(key(museum, "missed"), 0, top as isize - 1)
                .zcard(key(museum, "missed"))
                .query_async(&mut c)
                .await
                .map_err(|e| {
                    tracing::warn!(error = %e, "analytics unreadable");
                    crate::error::ApiError::StoreUnavailable
                })?;
        let dates = last_days(chrono::Utc::now().date_naive(), DAYS);
        let mut days = redis::pipe();
        for date in &dates {
            days.hgetall(key(museum, &format!("day:{date}")));
        }
        let per_day: Vec<std::collections::HashMap<String, u64>> = days.query_async(&mut c).await.map_err(|e| {
            tracing::warn!(error = %e, "analytics unreadable");
            crate::error::ApiError::StoreUnavailable
        })?;
        let count = |m: &std::collections::HashMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
        let daily = dates
            .into_iter()
            .zip(&per_day)
            .map(|(date, m)| Day {
                date,
                matched: count(m, "matched"),
                ambiguous: count(m, "ambiguous"),
                no_match: count(m, "no_match"),
            })
            .collect();
        let get = |k: &str| status.get(k).copied().unwrap_or(0);
        let (matched, ambiguous, no_match) = (get("matched"), get("ambiguous"), get("no_match"));
        let recognitions = matched + ambiguous + no_match;
        let ranked = |v: Vec<(String, u64)>| v.into_iter().map(|(id, count)| Ranked { id, count }).collect();
        Ok(Report {
            museum: museum.to_owned(),
            recognitions,
            matched,
            ambiguous,
            no_match,
            no_match_rate: if recognitions == 0 { 0.0 } else { no_match as f64 / recognitions as f64 },
            top_exhibits: ranked(exhibits),
            most_missed: ranked(missed),
            missed_photos,
            daily,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_report_covers_the_last_days_oldest_first_across_a_month_end() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        assert_eq!(super::last_days(today, 4), ["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"]);
        assert_eq!(super::last_days(today, super::DAYS).len(), 30);
    }
}
