//! The cluster under test (`scripts/cluster.sh` in a folder of its own, on
//! free loopback ports) and what the scenarios do to it: kill and restart
//! its processes, ask the balancer and Redis what they see, log visitors in.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// A base port with the 31 above it free (the cluster's layout), and the
/// Redis nodes' cluster bus ports (their port + 10000): all below Linux's
/// ephemeral range (32768 up), so no outgoing connection takes one meanwhile.
fn free_base() -> u16 {
    let seed = std::process::id() as u16;
    let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
    (0..200u16)
        .map(|i| 10_000 + (seed.wrapping_add(i * 97) % 100) * 100)
        .find(|base| (0..=31).all(|p| free(base + p)) && (20..=25).all(|p| free(base + p + 10_000)))
        .expect("no free block of ports")
}

pub struct Cluster {
    dir: tempfile::TempDir,
    pub env: HashMap<String, String>,
    pub lb: String,
    pub http: reqwest::Client,
}

impl Cluster {
    /// Starts the cluster (recognition cache and anonymous rate limit off, so
    /// every request is recognised); panics with the script's output if it fails.
    pub fn up() -> Self {
        let dir = tempfile::Builder::new().prefix("mo-cluster-").tempdir().expect("temp dir");
        let base = free_base();
        let cluster = Self::run(dir.path(), base, "up");
        assert!(
            cluster.status.success(),
            "scripts/cluster.sh up failed:\n{}",
            String::from_utf8_lossy(&cluster.stderr)
        );
        let env = std::fs::read_to_string(dir.path().join("cluster.env")).expect("cluster.env");
        let env: HashMap<String, String> =
            env.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.trim().to_owned())).collect();
        let lb = env["LB_URL"].clone();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
        Self { dir, env, lb, http }
    }

    fn run(dir: &Path, base: u16, verb: &str) -> std::process::Output {
        Command::new("bash")
            .arg(workspace_root().join("scripts/cluster.sh"))
            .arg(verb)
            .env("CLUSTER_DIR", dir)
            .env("BASE_PORT", base.to_string())
            .env("SKIP_SETUP", "1")
            .env("APP__REDIS__CACHE_TTL_S", "0")
            // Limits far above the load, not off: every request still
            // counts its window in Redis, as in production.
            .env("APP__LIMITS__ANONYMOUS_RECOGNIZE_PER_MINUTE", "10000000")
            .env("APP__LIMITS__VISITOR_RECOGNIZE_PER_MINUTE", "10000000")
            .env("APP__LIMITS__LOGIN_PER_MINUTE", "10000000")
            .env("RUST_LOG", "warn")
            .current_dir(workspace_root())
            .output()
            .expect("bash")
    }

    fn base(&self) -> u16 {
        self.lb.rsplit(':').next().and_then(|p| p.parse().ok()).expect("balancer port")
    }

    /// `scripts/cluster.sh up` again: restarts whatever is not running.
    pub fn restart_missing(&self) {
        let out = Self::run(self.dir.path(), self.base(), "up");
        assert!(out.status.success(), "cluster.sh up (restart) failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn photos(&self) -> Vec<Vec<u8>> {
        let dir = self.dir().join("demo/photos");
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .expect("demo photos")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with("-visitor.jpg"))
            .collect();
        names.sort();
        assert!(!names.is_empty(), "no sample photos in {}", dir.display());
        names.iter().map(|p| std::fs::read(p).expect("photo")).collect()
    }

    pub fn replica_pid(&self, n: usize) -> u32 {
        read_pid(&self.dir().join(format!("pids/replica-{n}.pid")))
    }

    pub fn redis_ports(&self) -> Vec<u16> {
        self.env["REDIS_NODES"].split(',').filter_map(|u| u.rsplit(':').next()?.parse().ok()).collect()
    }

    pub fn redis_pid(&self, port: u16) -> u32 {
        read_pid(&self.dir().join(format!("redis/{port}/redis.pid")))
    }

    /// The balancer's status of each replica ("UP", "DOWN", "MAINT", …).
    pub async fn lb_status(&self) -> HashMap<String, String> {
        let csv = match self.http.get(format!("{}/;csv", self.env["LB_STATS_URL"])).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => return HashMap::new(),
        };
        csv.lines()
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|f| f.len() > 17 && f[0] == "replicas" && f[1].starts_with('r'))
            .map(|f| (f[1].to_owned(), f[17].to_owned()))
            .collect()
    }

    /// Sends a command to the balancer's runtime API ("disable server replicas/r2"); its answer.
    pub fn lb_command(&self, command: &str) -> String {
        use std::io::{Read, Write};
        let mut socket = std::os::unix::net::UnixStream::connect(&self.env["LB_SOCKET"]).expect("haproxy socket");
        socket.write_all(format!("{command}\n").as_bytes()).expect("haproxy command");
        let mut answer = String::new();
        socket.read_to_string(&mut answer).expect("haproxy answer");
        answer
    }

    pub async fn wait_lb(&self, replica: &str, want: &str, within: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < within {
            if self.lb_status().await.get(replica).is_some_and(|s| s.starts_with(want)) {
                return Some(start.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// A logged-in visitor's token and openid (through the balancer, like the mini-program).
    pub async fn login(&self, user: &str) -> Result<(String, String), String> {
        let code: serde_json::Value = self
            .http
            .post(format!("{}/fake/login", self.env["WECHAT_URL"]))
            .json(&serde_json::json!({ "user": user }))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let r = self
            .http
            .post(format!("{}/api/v1/session", self.lb))
            .json(&serde_json::json!({ "code": code["code"] }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        match (body["data"]["token"].as_str(), body["data"]["openid"].as_str()) {
            (Some(t), Some(o)) if status == 200 => Ok((t.to_owned(), o.to_owned())),
            _ => Err(format!("{status} {body}")),
        }
    }

    pub async fn add(&self, token: &str, list: &str, exhibit: &str) -> Result<(), String> {
        let r = self
            .http
            .post(format!("{}/api/v1/me/{list}", self.lb))
            .bearer_auth(token)
            .json(&serde_json::json!({ "exhibit_id": exhibit, "museum": "palace-demo" }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if r.status().is_success() {
            Ok(())
        } else {
            Err(format!("{} {}", r.status(), r.text().await.unwrap_or_default()))
        }
    }

    /// A visitor's list, newest first, as exhibit ids.
    pub async fn list(&self, token: &str, list: &str) -> Result<Vec<String>, String> {
        let r = self
            .http
            .get(format!("{}/api/v1/me/{list}?limit=100", self.lb))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let body: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{status} {body}"));
        }
        Ok(body["data"]["items"]
            .as_array()
            .map(|items| items.iter().filter_map(|i| i["exhibit_id"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let out = Self::run(self.dir.path(), self.base(), "down");
        if !out.status.success() {
            eprintln!("cluster.sh down: {}", String::from_utf8_lossy(&out.stderr));
        }
        if std::env::var_os("KEEP_CLUSTER_LOGS").is_some() {
            let keep = workspace_root().join("target/cluster-logs");
            let _ = std::fs::remove_dir_all(&keep);
            let _ = Command::new("cp").arg("-r").arg(self.dir().join("logs")).arg(&keep).status();
        }
    }
}

fn read_pid(path: &Path) -> u32 {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).trim().parse().expect("pid")
}

pub fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

pub fn kill(pid: u32, signal: &str) {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().expect("kill");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Whether process `pid` is gone (or a zombie: it has exited, nobody
/// reaped it yet) within `within`.
pub async fn wait_gone(pid: u32, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
        let state = state.as_deref().and_then(|s| s.rsplit(')').next()).and_then(|s| s.split_whitespace().next());
        if state.is_none_or(|s| s == "Z") {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// `redis-cli -p port args…`, its output.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli").arg("-p").arg(port.to_string()).args(args).output().expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The port of the primary that serves `key`'s slot, asked of `via`.
pub fn primary_of(via: u16, key: &str) -> Option<u16> {
    let slot: u32 = redis_cli(via, &["cluster", "keyslot", key]).trim().parse().ok()?;
    redis_cli(via, &["cluster", "nodes"]).lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 9 || !f[2].contains("master") || f[2].contains("fail") {
            return None;
        }
        let serves = f[8..].iter().any(|range| match range.split_once('-') {
            Some((a, b)) => a.parse::<u32>().ok() <= Some(slot) && Some(slot) <= b.parse::<u32>().ok(),
            None => range.parse::<u32>().ok() == Some(slot),
        });
        serves.then(|| f[1].split('@').next()?.rsplit(':').next()?.parse().ok()).flatten()
    })
}
