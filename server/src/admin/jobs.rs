//! Background jobs: imports, builds and incremental changes run as
//! `index-builder` child processes (`--json`: one event per line), so the
//! server never writes a bundle itself, a build's memory never counts
//! against the serving process, and a build that dies or is killed leaves
//! the published bundle as it was (the builder's own invariant).
//!
//! A job's state lives in this process (the one running it) and is mirrored
//! to Redis (`mo:job:v1:<id>`, 7 days) so any server process can report it.
//! One lifecycle job per museum at a time, across server processes: a build
//! racing an upsert would publish a bundle without the other's change. The
//! museum is held in this process and by a Redis lock (`SET NX` with an
//! expiry, renewed while the job runs, released by compare-and-delete), so a
//! server that dies mid-job frees the museum within `LOCK_TTL_S`. With Redis
//! down only the in-process rule holds (logged).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::error::ApiError;
use crate::redis_store::RedisStore;

const JOB_TTL_S: u64 = 7 * 24 * 3600;
/// Lifetime of a museum's job lock; renewed every `LOCK_RENEW` while the job runs.
const LOCK_TTL_S: u64 = 120;
const LOCK_RENEW: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobProgress {
    pub stage: String,
    pub done: u64,
    pub total: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub museum: String,
    /// import | build | upsert | delete
    pub kind: String,
    /// running | succeeded | failed
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<JobProgress>,
    /// The validation report, once the records were read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

#[derive(Debug)]
pub struct Jobs {
    store: Arc<RedisStore>,
    builder: PathBuf,
    /// Arguments every model-using job gets (model, ORT library, threads).
    model_args: Vec<String>,
    jobs: Mutex<HashMap<String, Job>>,
    /// Museum -> the job holding it.
    busy: Mutex<HashMap<String, String>>,
}

fn key(id: &str) -> String {
    format!("mo:job:v1:{id}")
}

fn lock_key(museum: &str) -> String {
    format!("mo:job:lock:v1:{museum}")
}

/// Deletes or extends the lock only while `ARGV[1]` (the job id) holds it.
const RELEASE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
const RENEW: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) else return 0 end";

impl Jobs {
    pub fn new(store: Arc<RedisStore>, builder: PathBuf, model_args: Vec<String>) -> Self {
        Self { store, builder, model_args, jobs: Mutex::default(), busy: Mutex::default() }
    }

    pub fn builder(&self) -> &std::path::Path {
        &self.builder
    }

    /// Starts `index-builder <args>` for `museum`; `uses_model` adds the model arguments.
    pub async fn start(
        self: &Arc<Self>,
        museum: &str,
        kind: &str,
        args: Vec<String>,
        uses_model: bool,
    ) -> Result<Job, ApiError> {
        self.start_with_id(museum, kind, args, uses_model, uuid::Uuid::new_v4().simple().to_string()).await
    }

    pub async fn start_with_id(
        self: &Arc<Self>,
        museum: &str,
        kind: &str,
        mut args: Vec<String>,
        uses_model: bool,
        id: String,
    ) -> Result<Job, ApiError> {
        {
            let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(job) = busy.get(museum) {
                return Err(ApiError::JobConflict { museum: museum.to_owned(), job: job.clone() });
            }
            busy.insert(museum.to_owned(), id.clone());
        }
        if let Err(holder) = self.lock(museum, &id).await {
            self.busy.lock().unwrap_or_else(|p| p.into_inner()).remove(museum);
            return Err(ApiError::JobConflict { museum: museum.to_owned(), job: holder });
        }
        if uses_model {
            args.extend(self.model_args.iter().cloned());
        }
        args.push("--json".into());
        let job = Job {
            id: id.clone(),
            museum: museum.to_owned(),
            kind: kind.to_owned(),
            state: "running".into(),
            progress: None,
            validation: None,
            result: None,
            error: None,
            created_at: Utc::now().to_rfc3339(),
            finished_at: None,
        };
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), job.clone());
        // Visible to every server process from the start.
        self.mirror(&id).await;
        let me = self.clone();
        tokio::spawn(async move { me.run(id, args).await });
        Ok(job)
    }

    async fn run(self: Arc<Self>, id: String, args: Vec<String>) {
        tracing::info!(job = %id, builder = %self.builder.display(), ?args, "job started");
        let museum = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).get(&id).map(|j| j.museum.clone());
        let renewer = museum.map(|m| {
            let (me, job) = (self.clone(), id.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(LOCK_RENEW).await;
                    me.renew(&m, &job).await;
                }
            })
        });
        self.run_child(&id, args).await;
        if let Some(r) = renewer {
            r.abort();
        }
    }

    async fn run_child(&self, id: &str, args: Vec<String>) {
        let id = id.to_owned();
        let spawned = tokio::process::Command::new(&self.builder)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                self.finish(&id, Err(format!("cannot start {}: {e}", self.builder.display()))).await;
                return;
            }
        };
        let stderr = child.stderr.take().map(|s| {
            tokio::spawn(async move {
                let mut lines = BufReader::new(s).lines();
                let mut tail: Vec<String> = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    tail.push(line);
                    if tail.len() > 20 {
                        tail.remove(0);
                    }
                }
                tail
            })
        });
        let mut error = None;
        let mut result = None;
        if let Some(out) = child.stdout.take() {
            let mut lines = BufReader::new(out).lines();
            let mut last_mirror = std::time::Instant::now();
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(event) = serde_json::from_str::<Value>(&line) else { continue };
                let kind = event.get("event").and_then(Value::as_str).unwrap_or("").to_owned();
                let mut stage_changed = false;
                self.update(&id, |job| match kind.as_str() {
                    "progress" => {
                        let p = JobProgress {
                            stage: event["stage"].as_str().unwrap_or("").to_owned(),
                            done: event["done"].as_u64().unwrap_or(0),
                            total: event["total"].as_u64().unwrap_or(0),
                        };
                        stage_changed = job.progress.as_ref().is_none_or(|o| o.stage != p.stage);
                        job.progress = Some(p);
                    }
                    "validated" => job.validation = Some(strip_event(&event)),
                    _ => {}
                });
                match kind.as_str() {
                    "result" => result = Some(strip_event(&event)),
                    "error" => error = event["error"].as_str().map(str::to_owned),
                    _ => {}
                }
                // Mirror progress to Redis at most a few times a second.
                if stage_changed || last_mirror.elapsed() > std::time::Duration::from_millis(500) {
                    self.mirror(&id).await;
                    last_mirror = std::time::Instant::now();
                }
            }
        }
        let status = child.wait().await;
        let tail = match stderr {
            Some(h) => h.await.unwrap_or_default(),
            None => Vec::new(),
        };
        let outcome = match (status, result) {
            (Ok(s), Some(r)) if s.success() => Ok(r),
            (Ok(s), _) => Err(error.unwrap_or_else(|| format!("index-builder exited with {s}: {}", tail.join(" | ")))),
            (Err(e), _) => Err(format!("index-builder: {e}")),
        };
        self.finish(&id, outcome).await;
    }

    fn update(&self, id: &str, change: impl FnOnce(&mut Job)) {
        if let Some(job) = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).get_mut(id) {
            change(job);
        }
    }

    async fn finish(&self, id: &str, outcome: Result<Value, String>) {
        let mut museum = None;
        self.update(id, |job| {
            match &outcome {
                Ok(result) => {
                    job.state = "succeeded".into();
                    job.result = Some(result.clone());
                    // An import's result is its validation report.
                    if job.kind == "import" {
                        job.validation = Some(result.clone());
                    }
                }
                Err(e) => {
                    job.state = "failed".into();
                    job.error = Some(e.clone());
                }
            }
            job.finished_at = Some(Utc::now().to_rfc3339());
            museum = Some(job.museum.clone());
        });
        match &outcome {
            Ok(_) => tracing::info!(job = %id, "job succeeded"),
            Err(e) => tracing::warn!(job = %id, error = %e, "job failed"),
        }
        self.mirror(id).await;
        if let Some(m) = museum {
            self.unlock(&m, id).await;
            self.busy.lock().unwrap_or_else(|p| p.into_inner()).remove(&m);
        }
    }

    /// Takes the museum's Redis lock for job `id`; `Err(holder)` if another job has it.
    async fn lock(&self, museum: &str, id: &str) -> Result<(), String> {
        let Some(mut c) = self.store.connection().await else {
            tracing::warn!(%museum, "redis down: the one-job-per-museum rule holds in this process only");
            return Ok(());
        };
        let taken: Result<Option<String>, _> = redis::cmd("SET")
            .arg(lock_key(museum))
            .arg(id)
            .arg("NX")
            .arg("EX")
            .arg(LOCK_TTL_S)
            .query_async(&mut c)
            .await;
        match taken {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(c.get::<_, Option<String>>(lock_key(museum)).await.ok().flatten().unwrap_or_default()),
            Err(e) => {
                tracing::warn!(%museum, error = %e, "job lock unavailable: in-process rule only");
                Ok(())
            }
        }
    }

    async fn unlock(&self, museum: &str, id: &str) {
        let Some(mut c) = self.store.connection().await else { return };
        let released: Result<i64, _> =
            redis::Script::new(RELEASE).key(lock_key(museum)).arg(id).invoke_async(&mut c).await;
        if let Err(e) = released {
            tracing::warn!(%museum, error = %e, "job lock not released; it expires by itself");
        }
    }

    async fn renew(&self, museum: &str, id: &str) {
        let Some(mut c) = self.store.connection().await else { return };
        let renewed: Result<i64, _> =
            redis::Script::new(RENEW).key(lock_key(museum)).arg(id).arg(LOCK_TTL_S).invoke_async(&mut c).await;
        if let Err(e) = renewed {
            tracing::warn!(%museum, error = %e, "job lock not renewed");
        }
    }

    async fn mirror(&self, id: &str) {
        let Some(job) = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned() else { return };
        let Some(mut c) = self.store.connection().await else { return };
        let json = serde_json::to_string(&job).unwrap_or_default();
        if let Err(e) = c.set_ex::<_, _, ()>(key(id), json, JOB_TTL_S).await {
            tracing::warn!(error = %e, "job state not mirrored to redis");
        }
    }

    /// A job by id: this process's own, else the mirror in Redis.
    pub async fn get(&self, id: &str) -> Option<Job> {
        if let Some(job) = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned() {
            return Some(job);
        }
        let mut c = self.store.connection().await?;
        let json: Option<String> = c.get(key(id)).await.ok()?;
        json.and_then(|j| serde_json::from_str(&j).ok())
    }

    /// The job holding `museum`, in this process or (by its lock) in another.
    pub async fn running(&self, museum: &str) -> Option<String> {
        if let Some(job) = self.busy.lock().unwrap_or_else(|p| p.into_inner()).get(museum).cloned() {
            return Some(job);
        }
        let mut c = self.store.connection().await?;
        c.get::<_, Option<String>>(lock_key(museum)).await.ok().flatten()
    }
}

fn strip_event(event: &Value) -> Value {
    let mut v = event.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove("event");
    }
    v
}

/// Where the `index-builder` binary is: as configured, else next to this
/// binary (or its parent, for test binaries in `deps/`), else `PATH`.
pub fn locate_builder(configured: &str) -> PathBuf {
    if !configured.is_empty() {
        return PathBuf::from(configured);
    }
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(2) {
            let candidate = dir.join("index-builder");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    PathBuf::from("index-builder")
}
