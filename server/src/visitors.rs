//! Per-visitor history and favorites in Redis.
//!
//! Both are sorted sets of exhibits scored by the time they were added, so
//! a re-added exhibit moves to the top instead of appearing twice. History
//! keeps the newest `HISTORY_MAX`; favorites are kept until removed.
//!
//! Members are exhibit keys, `{museum}:{id}` (museum ids cannot contain
//! `:`): exhibit ids are unique within a museum only. Lists written before
//! keys carried the museum (`mo:visitor:{openid}:{list}`, bare ids) are
//! moved to the versioned key the first time the visitor's list is touched:
//! every operation's script answers "migrate first" while the old key
//! exists, the server resolves each bare id to the museum that publishes it
//! and moves every entry (with its time) in one script; an id no published
//! museum has is kept with an empty museum, never dropped. (A Redis Cluster
//! never held legacy lists: there the scripts name the list's key only.)

use std::sync::Arc;

use recognizer::ExhibitKey;

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
    fn name(self) -> &'static str {
        match self {
            List::History => "history",
            List::Favorites => "favorites",
        }
    }

    /// The list's key; the openid is a hash tag, so one visitor's keys share
    /// a Redis Cluster slot. (Legacy keys only ever lived on one node.)
    fn key(self, openid: &str) -> String {
        format!("mo:visitor:v2:{{{openid}}}:{}", self.name())
    }

    /// Where lists of bare exhibit ids were kept before.
    fn legacy_key(self, openid: &str) -> String {
        format!("mo:visitor:{openid}:{}", self.name())
    }

    fn keep(self) -> isize {
        if self == List::History { HISTORY_MAX } else { 0 }
    }
}

fn member(key: &ExhibitKey) -> String {
    format!("{}:{}", key.museum, key.id)
}

fn parse_member(member: &str) -> ExhibitKey {
    let (museum, id) = member.split_once(':').unwrap_or(("", member));
    ExhibitKey::new(museum, id)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub exhibit: ExhibitKey,
    /// Unix seconds.
    pub at: i64,
}

/// Names the museum of a bare id from a legacy list; `None` while not every
/// published museum is loaded (a migration then waits: 503 `not_ready`).
pub type Resolver<'a> = Option<&'a dyn Fn(&str) -> Option<String>>;

/// What a list script answers while the visitor's list is still under the
/// legacy key.
const MIGRATE_FIRST: &str = "migrate";

#[derive(Debug)]
pub struct Visitors {
    store: Arc<RedisStore>,
}

impl Visitors {
    pub fn new(store: Arc<RedisStore>) -> Self {
        Self { store }
    }

    /// Runs `script` (which answers [`MIGRATE_FIRST`] while the legacy key
    /// exists) on the visitor's list, migrating it first when asked to.
    /// `resolve` names the museum of a bare legacy id.
    async fn run<T: redis::FromRedisValue>(
        &self,
        list: List,
        openid: &str,
        script: &redis::Script,
        args: &[String],
        resolve: Resolver<'_>,
    ) -> Result<T, ApiError> {
        let mut c = self.store.required().await?;
        for _ in 0..2 {
            let mut call = script.key(list.key(openid));
            // Legacy keys only ever lived on a single node; in a cluster
            // they would sit in another slot than the list's (CROSSSLOT).
            if !self.store.is_cluster() {
                call.key(list.legacy_key(openid));
            }
            for a in args {
                call.arg(a);
            }
            let answer: redis::Value = call.invoke_async(&mut c).await.map_err(store_error)?;
            let migrate = matches!(&answer, redis::Value::SimpleString(s) if s == MIGRATE_FIRST)
                || matches!(&answer, redis::Value::BulkString(b) if b == MIGRATE_FIRST.as_bytes());
            if !migrate {
                return T::from_redis_value(answer).map_err(|e| store_error(e.into()));
            }
            // Without every published museum loaded, an id would be filed
            // under the wrong museum or none, for good: not now.
            let Some(resolve) = resolve else { return Err(ApiError::NotReady) };
            self.migrate(&mut c, list, openid, resolve).await?;
        }
        Err(ApiError::StoreUnavailable)
    }

    /// Moves the legacy list to the versioned key (see the module's notes).
    async fn migrate(
        &self,
        c: &mut crate::redis_store::Conn,
        list: List,
        openid: &str,
        resolve: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ApiError> {
        // Each (old member, new member) pair moves with its score, keeping
        // the newer time when both keys hold the exhibit; members the server
        // did not resolve (added since it read them) keep an empty museum.
        const MIGRATE: &str = r"
            local mapped = {}
            for i = 1, #ARGV - 1, 2 do mapped[ARGV[i]] = ARGV[i + 1] end
            local old = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
            for i = 1, #old, 2 do
              local m = mapped[old[i]] or (':' .. old[i])
              local have = redis.call('ZSCORE', KEYS[1], m)
              if not have or tonumber(have) < tonumber(old[i + 1]) then
                redis.call('ZADD', KEYS[1], old[i + 1], m)
              end
            end
            local keep = tonumber(ARGV[#ARGV])
            if keep > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(keep + 1)) end
            redis.call('DEL', KEYS[2])
            return #old / 2";
        let old: Vec<String> = redis::cmd("ZRANGE")
            .arg(list.legacy_key(openid))
            .arg(0)
            .arg(-1)
            .query_async(c)
            .await
            .map_err(store_error)?;
        let migrate = redis::Script::new(MIGRATE);
        let mut script = migrate.key(list.key(openid));
        script.key(list.legacy_key(openid));
        for id in &old {
            script.arg(id).arg(member(&ExhibitKey::new(resolve(id).unwrap_or_default(), id.as_str())));
        }
        let moved: i64 = script.arg(list.keep()).invoke_async(c).await.map_err(store_error)?;
        tracing::info!(list = list.name(), moved, "visitor list moved to exhibit keys");
        Ok(())
    }

    pub async fn add(
        &self,
        list: List,
        openid: &str,
        exhibit: &ExhibitKey,
        resolve: Resolver<'_>,
    ) -> Result<(), ApiError> {
        // Scored in milliseconds, and always above the newest entry: two adds
        // within one millisecond must still keep their order.
        const ADD: &str = r"
            if KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1 then return {ok = 'migrate'} end
            local at = tonumber(ARGV[2])
            local top = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
            if top[2] and tonumber(top[2]) >= at then at = tonumber(top[2]) + 1 end
            redis.call('ZADD', KEYS[1], at, ARGV[1])
            local keep = tonumber(ARGV[3])
            if keep > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(keep + 1)) end
            return at";
        let args = [member(exhibit), (unix_now().as_millis() as i64).to_string(), list.keep().to_string()];
        self.run::<i64>(list, openid, &redis::Script::new(ADD), &args, resolve).await.map(drop)
    }

    /// Removes `id` of `museum` from the list, or, without a museum, every
    /// entry with that id; whether anything was on the list.
    pub async fn remove(
        &self,
        list: List,
        openid: &str,
        museum: Option<&str>,
        id: &str,
        resolve: Resolver<'_>,
    ) -> Result<bool, ApiError> {
        const REMOVE: &str = r"
            if KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1 then return {ok = 'migrate'} end
            if ARGV[1] == '1' then return redis.call('ZREM', KEYS[1], ARGV[2] .. ':' .. ARGV[3]) end
            local removed = 0
            local suffix = ':' .. ARGV[3]
            for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
              if string.sub(m, -#suffix) == suffix and not string.find(string.sub(m, 1, #m - #suffix), ':', 1, true) then
                removed = removed + redis.call('ZREM', KEYS[1], m)
              end
            end
            return removed";
        let args =
            [if museum.is_some() { "1" } else { "0" }.to_owned(), museum.unwrap_or_default().to_owned(), id.to_owned()];
        let n: u32 = self.run(list, openid, &redis::Script::new(REMOVE), &args, resolve).await?;
        Ok(n > 0)
    }

    /// Newest first: a page of entries and the list's length.
    pub async fn list(
        &self,
        list: List,
        openid: &str,
        offset: usize,
        limit: usize,
        resolve: Resolver<'_>,
    ) -> Result<(Vec<Entry>, usize), ApiError> {
        const LIST: &str = r"
            if KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1 then return {ok = 'migrate'} end
            return {redis.call('ZREVRANGE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES'), redis.call('ZCARD', KEYS[1])}";
        let stop = (offset + limit) as isize - 1;
        let args = [offset.to_string(), stop.to_string()];
        let (items, total): (Vec<(String, i64)>, usize) =
            self.run(list, openid, &redis::Script::new(LIST), &args, resolve).await?;
        Ok((items.into_iter().map(|(m, ms)| Entry { exhibit: parse_member(&m), at: ms / 1000 }).collect(), total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_carry_the_museum() {
        let key = ExhibitKey::new("palace", "a:b");
        assert_eq!(member(&key), "palace:a:b");
        assert_eq!(parse_member(&member(&key)), key);
        // An unresolved legacy id keeps an empty museum.
        assert_eq!(parse_member(":x"), ExhibitKey::new("", "x"));
        assert_eq!(List::History.key("o1"), "mo:visitor:v2:{o1}:history");
    }
}
