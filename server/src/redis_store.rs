//! One lazily connected Redis connection, shared by the cache, sessions,
//! rate limits, history and the WeChat token: to a single node (`redis.url`)
//! or to a Redis Cluster (`redis.cluster_nodes`), whose client follows the
//! cluster's slot map by itself (redirections, a replica promoted after its
//! primary failed).
//!
//! Commands time out quickly. When Redis is down, connecting is retried at
//! most once per `RETRY_EVERY` instead of on every request, so a dead Redis
//! costs requests nothing but a failed lookup.
//!
//! In a cluster every command, script and pipeline must name keys of one
//! slot: the keys that go together share a hash tag (`{openid}` for a
//! visitor's lists, `{museum}` for a museum's analytics); every other
//! command names one key.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;

const RETRY_EVERY: Duration = Duration::from_secs(5);

/// Time since the Unix epoch (what Redis-stored timestamps and windows use).
pub fn unix_now() -> Duration {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default()
}

/// A connection to a single node or to a cluster; cheap to clone (both
/// multiplex one socket per node).
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conn::Single(_) => "Conn::Single",
            Conn::Cluster(_) => "Conn::Cluster",
        })
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

enum Client {
    Single(redis::Client, ConnectionManagerConfig),
    Cluster(ClusterClient),
}

pub struct RedisStore {
    client: Client,
    conn: tokio::sync::Mutex<Option<Conn>>,
    last_attempt: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A single node at `url`.
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        Ok(Self::with(Client::Single(client, config)))
    }

    /// A Redis Cluster reached through any of `nodes` (the client learns the
    /// rest from the cluster). Each command gets `timeout` in all, its
    /// retries included (redirections are followed within it): while a
    /// primary is down and not yet replaced, commands on its slots fail
    /// fast, as with a single node that is down, and the client finds the
    /// promoted replica on the next command after the failover.
    pub fn cluster(nodes: &[String], timeout: Duration) -> anyhow::Result<Self> {
        let client = ClusterClient::builder(nodes.iter().map(String::as_str))
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(2)
            .min_retry_wait(50)
            .max_retry_wait(500)
            .build()?;
        Ok(Self::with(Client::Cluster(client)))
    }

    fn with(client: Client) -> Self {
        Self { client, conn: tokio::sync::Mutex::new(None), last_attempt: Mutex::new(None) }
    }

    /// Whether this is a Redis Cluster (keys that go together need a hash tag).
    pub fn is_cluster(&self) -> bool {
        matches!(self.client, Client::Cluster(_))
    }

    /// A connection, or `None` while Redis is unreachable.
    pub async fn connection(&self) -> Option<Conn> {
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
        let connected = match &self.client {
            Client::Single(client, config) => {
                client.get_connection_manager_with_config(config.clone()).await.map(Conn::Single)
            }
            Client::Cluster(client) => client.get_async_connection().await.map(Conn::Cluster),
        };
        match connected {
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
    pub async fn required(&self) -> Result<Conn, crate::error::ApiError> {
        self.connection().await.ok_or(crate::error::ApiError::StoreUnavailable)
    }

    /// Whether Redis answers a PING right now (in a cluster, every primary:
    /// one down reads as "down" until its replica takes over).
    pub async fn ping(&self) -> bool {
        let Some(mut c) = self.connection().await else { return false };
        redis::cmd("PING").query_async::<String>(&mut c).await.is_ok()
    }
}
