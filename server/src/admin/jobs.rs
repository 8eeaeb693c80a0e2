//! Background jobs: imports, builds and incremental changes run as
//! `index-builder` child processes (`--json`: one `builder_protocol::Event`
//! per line), so the server never writes a bundle itself (it does not link
//! the bundle store), a build's memory never counts against the serving
//! process, and a build that dies or is killed leaves the published bundle
//! as it was (the builder's own invariant). The builder also takes the
//! museum's OS file lock and publishes by compare-and-swap, so the rule
//! below is a courtesy to clients (a quick 409), not what keeps bundles
//! consistent.
//!
//! A job's state lives in this process (the one running it) and is mirrored
//! to Redis (`mo:job:v1:<id>`, 7 days) so any server process can report it.
//! One lifecycle job per museum at a time, across server processes: a build
//! racing an upsert would publish a bundle without the other's change. The
//! museum is held in this process and by a Redis lock (`SET NX` with an
//! expiry, renewed while the job runs, released by compare-and-delete), so a
//! server that dies mid-job frees the museum within `LOCK_TTL`. With Redis
//! down only the in-process rule holds (logged), and the builder's lock
//! serialises what gets through.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use builder_protocol::{BuildReport, ChangeReport, Event, Failure, FailureKind, JobKind, JobState, ValidationReport};
use chrono::Utc;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::error::ApiError;
use crate::redis_lock::Lease;
use crate::redis_store::RedisStore;

const JOB_TTL_S: u64 = 7 * 24 * 3600;
/// Finished jobs kept in memory (answering without Redis), at most this many...
const FINISHED_KEPT: usize = 100;
/// ...and for at most this long.
const FINISHED_FOR: std::time::Duration = std::time::Duration::from_secs(3600);
/// Lifetime of a museum's job lock; renewed every `LOCK_RENEW` while the job runs.
const LOCK_TTL: std::time::Duration = std::time::Duration::from_secs(120);
const LOCK_RENEW: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobProgress {
    pub stage: String,
    pub done: u64,
    pub total: u64,
}

/// What a job produced: its kind's report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum JobResult {
    Built(Box<BuildReport>),
    Changed(ChangeReport),
    Imported(ValidationReport),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub museum: String,
    pub kind: JobKind,
    pub state: JobState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<JobProgress>,
    /// The validation report, once the records were read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<ValidationReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<JobResult>,
    /// Why it failed, for the museum (internal causes are in the server log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<FailureKind>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Who started it: `operator`, or a museum key's id and label.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub by: String,
}

impl Job {
    /// A job of `kind` for `museum`, running from now, started by `by`.
    fn begun(id: &str, museum: &str, kind: JobKind, by: &str) -> Self {
        Job {
            id: id.to_owned(),
            museum: museum.to_owned(),
            kind,
            state: JobState::Running,
            progress: None,
            validation: None,
            result: None,
            error: None,
            error_kind: None,
            created_at: Utc::now().to_rfc3339(),
            finished_at: None,
            by: by.to_owned(),
        }
    }
}

#[derive(Debug)]
pub struct Jobs {
    store: Arc<RedisStore>,
    builder: PathBuf,
    /// Arguments every model-using job gets (model, ORT library, threads).
    model_args: Vec<String>,
    jobs: Mutex<HashMap<String, Job>>,
    /// Finished jobs, oldest first: dropped from `jobs` past `FINISHED_KEPT`
    /// of them or `FINISHED_FOR` after they ended (their mirror in Redis
    /// answers for 7 days).
    finished: Mutex<std::collections::VecDeque<(std::time::Instant, String)>>,
    /// Museum -> the job holding it.
    busy: Mutex<HashMap<String, String>>,
    /// `admin.data_dir`: where each museum's version history goes
    /// ([`super::audit`]); `None` records none.
    history: Option<PathBuf>,
}

/// Writes who made (and published) the version a job wrote.
async fn record_version(museum_dir: &std::path::Path, result: &JobResult, by: &str) {
    use super::audit::{Action, Entry};
    let (action, version, published) = match result {
        JobResult::Built(r) => (Action::Built, &r.version, r.published),
        JobResult::Changed(r) => (Action::Changed, &r.version, r.published),
        JobResult::Imported(_) => return,
    };
    let entry = |action| Entry { at: super::audit::now(), by: by.to_owned(), action, version: version.clone() };
    let mut entries = vec![entry(action)];
    if published {
        entries.push(entry(Action::Published));
    }
    let dir = museum_dir.to_owned();
    // File work off the async workers.
    let _ = tokio::task::spawn_blocking(move || super::audit::append(&dir, &entries)).await;
}

fn key(id: &str) -> String {
    format!("mo:job:v1:{id}")
}

fn lock_key(museum: &str) -> String {
    format!("mo:job:lock:v1:{museum}")
}

impl Jobs {
    pub fn new(store: Arc<RedisStore>, builder: PathBuf, model_args: Vec<String>) -> Self {
        Self {
            store,
            builder,
            model_args,
            jobs: Mutex::default(),
            finished: Mutex::default(),
            busy: Mutex::default(),
            history: None,
        }
    }

    /// Records who made and published each version under `data_dir/<museum>/`.
    pub fn with_history(mut self, data_dir: PathBuf) -> Self {
        self.history = Some(data_dir);
        self
    }

    pub fn builder(&self) -> &std::path::Path {
        &self.builder
    }

    /// Starts `index-builder <args>` for `museum`; `uses_model` adds the model arguments.
    /// `by` is who asks (see [`super::scope::MuseumScope::by`]).
    pub async fn start(
        self: &Arc<Self>,
        museum: &str,
        kind: JobKind,
        args: Vec<String>,
        by: &str,
    ) -> Result<Job, ApiError> {
        self.start_with_id(museum, kind, args, uuid::Uuid::new_v4().simple().to_string(), by).await
    }

    /// Holds `museum` for job `id` in this process and across processes;
    /// `Err` with the holder's id if another job has it. The museum is let
    /// go when the [`Hold`] is released or dropped (a request dropped
    /// mid-way, a client gone), never left held by nobody.
    async fn hold(self: &Arc<Self>, museum: &str, id: &str) -> Result<Hold, ApiError> {
        {
            let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(job) = busy.get(museum) {
                return Err(ApiError::JobConflict { museum: museum.to_owned(), job: job.clone() });
            }
            busy.insert(museum.to_owned(), id.to_owned());
        }
        let hold = Hold { jobs: self.clone(), museum: museum.to_owned(), id: id.to_owned(), armed: true };
        if let Err(holder) = self.lock(museum, id).await {
            return Err(ApiError::JobConflict { museum: museum.to_owned(), job: holder });
        }
        Ok(hold)
    }

    /// Forgets that job `id` holds `museum` in this process (if it still does).
    fn forget(&self, museum: &str, id: &str) {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        if busy.get(museum).is_some_and(|holder| holder == id) {
            busy.remove(museum);
        }
    }

    async fn release(&self, museum: &str, id: &str) {
        self.unlock(museum, id).await;
        self.forget(museum, id);
    }

    /// Runs `work` (a quick builder command: publish, rollback, gc) holding
    /// `museum` as a job would, so it cannot interleave with one: taking
    /// the museum is the check, not a look at whether it is free.
    pub async fn exclusive<T>(
        self: &Arc<Self>,
        museum: &str,
        work: impl std::future::Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let hold = self.hold(museum, &id).await?;
        let out = work.await;
        hold.release().await;
        out
    }

    pub async fn start_with_id(
        self: &Arc<Self>,
        museum: &str,
        kind: JobKind,
        mut args: Vec<String>,
        id: String,
        by: &str,
    ) -> Result<Job, ApiError> {
        let hold = self.hold(museum, &id).await?;
        // Everything but an import embeds images.
        if kind != JobKind::Import {
            args.extend(self.model_args.iter().cloned());
        }
        args.push("--json".into());
        let job = Job::begun(&id, museum, kind, by);
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), job.clone());
        let me = self.clone();
        let (mirrored, visible) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            // Visible to every server process from the start...
            me.mirror(&id).await;
            let _ = mirrored.send(());
            me.run(id, args).await
        });
        // The job holds the museum now; its end releases it.
        hold.disarm();
        // ...before its id is answered, so a poll through another server
        // (behind a load balancer) finds it. Bounded: Redis down or slow
        // delays the answer by a second at most, and a request dropped here
        // leaves the job running.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), visible).await;
        Ok(job)
    }

    /// A job that fails before anything runs, for a request the API can
    /// only refuse once it has read it whole (what it names does not fit
    /// together, which the API document cannot say): answered like any job,
    /// failed with `why` for the person to fix. Holds nothing.
    pub async fn refused(&self, museum: &str, kind: JobKind, why: String, by: &str) -> Job {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut job = Job::begun(&id, museum, kind, by);
        job.state = JobState::Failed;
        job.error = Some(why);
        job.error_kind = Some(FailureKind::Invalid);
        job.finished_at = Some(job.created_at.clone());
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), job.clone());
        self.mirror(&id).await;
        self.prune(&id);
        job
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
                let message = format!("cannot start {}: {e}", self.builder.display());
                self.finish(&id, Err(Failure { kind: FailureKind::Internal, message, issues: Vec::new() })).await;
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
        let mut outcome: Option<Result<JobResult, Failure>> = None;
        if let Some(out) = child.stdout.take() {
            let mut lines = BufReader::new(out).lines();
            let mut last_mirror = std::time::Instant::now();
            while let Ok(Some(line)) = lines.next_line().await {
                let Some(event) = Event::from_line(&line) else {
                    tracing::warn!(job = %id, line, "index-builder printed a line that is not an event");
                    continue;
                };
                let mut stage_changed = false;
                match event {
                    Event::Progress { stage, done, total } => self.update(&id, |job| {
                        stage_changed = job.progress.as_ref().is_none_or(|o| o.stage != stage);
                        job.progress = Some(JobProgress { stage, done, total });
                    }),
                    Event::Validated(report) => self.update(&id, |job| job.validation = Some(report)),
                    Event::Imported(report) => outcome = Some(Ok(JobResult::Imported(report))),
                    Event::Built(report) => outcome = Some(Ok(JobResult::Built(report))),
                    Event::Changed(report) => outcome = Some(Ok(JobResult::Changed(report))),
                    Event::Failed(failure) => outcome = Some(Err(failure)),
                    other => tracing::warn!(job = %id, ?other, "unexpected event from index-builder"),
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
        let crashed = |why: String| Failure { kind: FailureKind::Internal, message: why, issues: Vec::new() };
        let outcome = match (status, outcome) {
            (Ok(s), Some(Ok(r))) if s.success() => Ok(r),
            (_, Some(Err(f))) => Err(f),
            (Ok(s), _) => Err(crashed(format!("index-builder exited with {s} without a result"))),
            (Err(e), _) => Err(crashed(format!("index-builder: {e}"))),
        };
        if outcome.is_err() && !tail.is_empty() {
            tracing::warn!(job = %id, stderr = %tail.join(" | "), "index-builder's last words");
        }
        self.finish(&id, outcome).await;
    }

    fn update(&self, id: &str, change: impl FnOnce(&mut Job)) {
        if let Some(job) = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).get_mut(id) {
            change(job);
        }
    }

    async fn finish(&self, id: &str, outcome: Result<JobResult, Failure>) {
        let mut museum = None;
        let mut by = String::new();
        self.update(id, |job| {
            by = job.by.clone();
            match &outcome {
                Ok(result) => {
                    job.state = JobState::Succeeded;
                    // An import's result is its validation report.
                    if let JobResult::Imported(report) = result {
                        job.validation = Some(report.clone());
                    }
                    job.result = Some(result.clone());
                }
                Err(f) => {
                    job.state = JobState::Failed;
                    job.error = Some(f.explained());
                    job.error_kind = Some(f.kind);
                }
            }
            job.finished_at = Some(Utc::now().to_rfc3339());
            museum = Some(job.museum.clone());
        });
        match &outcome {
            Ok(_) => tracing::info!(job = %id, "job succeeded"),
            Err(f) => tracing::warn!(job = %id, kind = ?f.kind, error = %f.message, "job failed"),
        }
        if let (Some(dir), Some(m), Ok(result)) = (&self.history, &museum, &outcome) {
            record_version(&dir.join(m), result, &by).await;
        }
        self.mirror(id).await;
        if let Some(m) = museum {
            self.release(&m, id).await;
        }
        self.prune(id);
    }

    /// Records `id` as finished and forgets the oldest finished jobs.
    /// (Its version, if it wrote one, is in the history by then.)
    fn prune(&self, id: &str) {
        let mut finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
        finished.push_back((std::time::Instant::now(), id.to_owned()));
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((at, old)) = finished.front() {
            if finished.len() <= FINISHED_KEPT && at.elapsed() < FINISHED_FOR {
                break;
            }
            jobs.remove(old);
            finished.pop_front();
        }
    }

    /// Jobs this process holds in memory (running, or finished recently).
    #[cfg(test)]
    fn in_memory(&self) -> usize {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Takes the museum's Redis lock for job `id`; `Err(holder)` if another job has it.
    async fn lock(&self, museum: &str, id: &str) -> Result<(), String> {
        let Some(mut c) = self.store.connection().await else {
            tracing::warn!(%museum, "redis down: the one-job-per-museum rule holds in this process only");
            return Ok(());
        };
        match Lease::try_acquire(&mut c, &lock_key(museum), id, LOCK_TTL).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(Lease::holder(&mut c, &lock_key(museum)).await.ok().flatten().unwrap_or_default()),
            Err(e) => {
                tracing::warn!(%museum, error = %e, "job lock unavailable: in-process rule only");
                Ok(())
            }
        }
    }

    async fn unlock(&self, museum: &str, id: &str) {
        let Some(mut c) = self.store.connection().await else { return };
        if let Err(e) = Lease::of(&lock_key(museum), id).release(&mut c).await {
            tracing::warn!(%museum, error = %e, "job lock not released; it expires by itself");
        }
    }

    async fn renew(&self, museum: &str, id: &str) {
        let Some(mut c) = self.store.connection().await else { return };
        match Lease::of(&lock_key(museum), id).renew(&mut c, LOCK_TTL).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(%museum, job = %id, "job lock expired and was taken; the builder's own lock still holds")
            }
            Err(e) => tracing::warn!(%museum, error = %e, "job lock not renewed"),
        }
    }

    /// Writes the job's state to Redis for the other server processes; a
    /// failed write (a command timing out on a busy machine) is tried twice more.
    async fn mirror(&self, id: &str) {
        let Some(job) = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned() else { return };
        let json = serde_json::to_string(&job).unwrap_or_default();
        for attempt in 1..=3 {
            let Some(mut c) = self.store.connection().await else { return };
            match c.set_ex::<_, _, ()>(key(id), &json, JOB_TTL_S).await {
                Ok(()) => return,
                Err(e) if attempt == 3 => tracing::warn!(error = %e, "job state not mirrored to redis"),
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
    }

    /// A job by id: this process's own, else the mirror in Redis.
    pub async fn get(&self, id: &str) -> Option<Job> {
        if let Some(job) = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned() {
            return Some(job);
        }
        let mut c = self.store.connection().await?;
        let json: Option<String> = c.get(key(id)).await.ok()?;
        let mut job: Job = json.and_then(|j| serde_json::from_str(&j).ok())?;
        // A job another process runs holds its museum's lease, renewed while
        // it runs: without it, the process died mid-job (the builder's own
        // invariant left the published bundle as it was).
        if job.state == JobState::Running
            && Lease::holder(&mut c, &lock_key(&job.museum)).await.ok()?.as_deref() != Some(id)
        {
            job.state = JobState::Failed;
            job.error = Some("the server running this job stopped before it finished; start it again".into());
            job.error_kind = Some(FailureKind::Internal);
        }
        Some(job)
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

/// A museum held for a job: released explicitly, or when dropped.
#[derive(Debug)]
struct Hold {
    jobs: Arc<Jobs>,
    museum: String,
    id: String,
    armed: bool,
}

impl Hold {
    /// Lets the museum go, waiting for Redis.
    async fn release(mut self) {
        self.armed = false;
        self.jobs.release(&self.museum, &self.id).await;
    }

    /// Hands the museum to a running job, whose end releases it.
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.jobs.forget(&self.museum, &self.id);
        let (jobs, museum, id) = (self.jobs.clone(), self.museum.clone(), self.id.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { jobs.unlock(&museum, &id).await });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn job(id: &str) -> Job {
        Job {
            id: id.into(),
            museum: "m".into(),
            kind: JobKind::Build,
            state: JobState::Succeeded,
            progress: None,
            validation: None,
            result: None,
            error: None,
            error_kind: None,
            created_at: String::new(),
            finished_at: None,
            by: String::new(),
        }
    }

    #[tokio::test]
    async fn a_museum_held_by_a_dropped_request_is_let_go() {
        let store = Arc::new(RedisStore::new("redis://127.0.0.1:1/", std::time::Duration::from_millis(10)).unwrap());
        let jobs = Arc::new(Jobs::new(store, PathBuf::from("index-builder"), Vec::new()));
        let held = jobs.hold("m", "a").await.unwrap();
        assert!(matches!(jobs.hold("m", "b").await, Err(ApiError::JobConflict { ref job, .. }) if job == "a"));
        // A request dropped while it held the museum (its future dropped).
        drop(held);
        let again = jobs.hold("m", "c").await.unwrap();
        // ...and one that ends normally.
        again.release().await;
        assert!(jobs.running("m").await.is_none());
        // A job that took the museum over keeps it until it finishes.
        jobs.hold("m", "d").await.unwrap().disarm();
        assert_eq!(jobs.running("m").await.as_deref(), Some("d"));
    }

    #[test]
    fn finished_jobs_are_forgotten_past_the_cap_running_ones_never() {
        let store = Arc::new(RedisStore::new("redis://127.0.0.1:1/", std::time::Duration::from_millis(10)).unwrap());
        let jobs = Jobs::new(store, PathBuf::from("index-builder"), Vec::new());
        jobs.jobs.lock().unwrap().insert("running".into(), Job { state: JobState::Running, ..job("running") });
        for i in 0..FINISHED_KEPT + 30 {
            let id = format!("j{i}");
            jobs.jobs.lock().unwrap().insert(id.clone(), job(&id));
            jobs.prune(&id);
        }
        assert_eq!(jobs.in_memory(), FINISHED_KEPT + 1);
        let held = jobs.jobs.lock().unwrap();
        assert!(held.contains_key("running") && held.contains_key(&format!("j{}", FINISHED_KEPT + 29)));
        assert!(!held.contains_key("j0"), "the oldest finished job went first");
    }
}
