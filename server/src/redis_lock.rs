//! A lease in Redis held by one owner at a time, across server processes:
//! taken with `SET NX PX` under a unique owner value, and renewed or
//! released only by that owner (compare-and-extend, compare-and-delete,
//! each one script), so a holder whose lease expired and was taken by
//! another cannot release or extend the new holder's. The one lock of the
//! server: lifecycle jobs per museum, and the WeChat `access_token` refresh.

use std::time::Duration;

use crate::redis_store::Conn;

const RELEASE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
const RENEW: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    key: String,
    owner: String,
}

impl Lease {
    /// Takes `key` for `owner` for `ttl`; `Ok(None)` if someone holds it.
    pub async fn try_acquire(
        conn: &mut Conn,
        key: &str,
        owner: &str,
        ttl: Duration,
    ) -> redis::RedisResult<Option<Self>> {
        let taken: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(owner)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query_async(conn)
            .await?;
        Ok(taken.map(|_| Self { key: key.to_owned(), owner: owner.to_owned() }))
    }

    /// Who holds `key`, if anyone.
    pub async fn holder(conn: &mut Conn, key: &str) -> redis::RedisResult<Option<String>> {
        redis::cmd("GET").arg(key).query_async(conn).await
    }

    /// Extends the lease to `ttl` from now; `false` if it is no longer ours.
    pub async fn renew(&self, conn: &mut Conn, ttl: Duration) -> redis::RedisResult<bool> {
        let n: i64 = redis::Script::new(RENEW)
            .key(&self.key)
            .arg(&self.owner)
            .arg(ttl.as_millis().max(1) as u64)
            .invoke_async(conn)
            .await?;
        Ok(n == 1)
    }

    /// Lets go; `false` if it was no longer ours (expired, maybe taken).
    pub async fn release(&self, conn: &mut Conn) -> redis::RedisResult<bool> {
        let n: i64 = redis::Script::new(RELEASE).key(&self.key).arg(&self.owner).invoke_async(conn).await?;
        Ok(n == 1)
    }

    /// The lease `owner` holds on `key` (for a holder that only kept its owner value).
    pub fn of(key: &str, owner: &str) -> Self {
        Self { key: key.to_owned(), owner: owner.to_owned() }
    }
}
