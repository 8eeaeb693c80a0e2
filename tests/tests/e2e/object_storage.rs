//! Bundles in S3-protocol object storage, end to end: moto's S3 server on a
//! free port (the real protocol, conditional writes included), the release
//! `index-builder` publishing to it with `--store`, and a real
//! `museum-server` process pulling from it through a TCP proxy the test
//! can cut, so the store can be unreachable for the replica alone.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;

const BUCKET: &str = "bundles";
const STORE_URL: &str = "s3://bundles/mo";

struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    async fn start() -> Self {
        let port = free_port();
        let server = std::env::var("MOTO_SERVER").expect("MOTO_SERVER: run the tests with scripts/test.sh");
        let child = Command::new(server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server (scripts/setup.sh moto)");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // Creating the bucket is also the readiness check.
            if let Ok(r) = http.put(format!("http://127.0.0.1:{port}/{BUCKET}")).send().await {
                assert!(r.status().is_success(), "creating the bucket: {}", r.status());
                break;
            }
            assert!(Instant::now() < deadline, "moto did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { child, port }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP proxy to `to` that can be cut: while down it refuses new
/// connections and closes the ones it carries.
struct Proxy {
    port: u16,
    up: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    async fn start(to: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, watch) = tokio::sync::watch::channel(true);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !*watch.borrow() {
                    continue; // dropped: the connection closes at once
                }
                let mut watch = watch.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = watch.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { port, up }
    }

    fn set(&self, up: bool) {
        self.up.send_replace(up);
    }
}

fn s3_env(cmd: &mut Command, port: u16) {
    cmd.env("AWS_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1");
}

/// `index-builder --json --store … args` against the store on `port`: its
/// exit status and last event.
fn builder(store_port: u16, bundles: &std::path::Path, args: &[&str]) -> (bool, serde_json::Value, Duration) {
    let mut cmd = Command::new(builder_bin());
    cmd.args(["--json", "--store", STORE_URL]).args(args).arg("--bundles").arg(bundles);
    cmd.env("MUSEUM_MODEL", model_path());
    s3_env(&mut cmd, store_port);
    let started = Instant::now();
    let out = cmd.output().expect("index-builder");
    let last = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or("null").to_owned();
    (out.status.success(), serde_json::from_str(&last).unwrap_or_default(), started.elapsed())
}

struct Replica {
    child: Child,
    base: String,
}

impl Replica {
    async fn start(cache: &std::path::Path, store_port: u16) -> Self {
        let port = free_port();
        let mut cmd = Command::new(builder_bin().with_file_name("museum-server"));
        cmd.env("APP__SERVER__PORT", port.to_string())
            .env("APP__BUNDLES__ROOT", cache)
            .env("APP__BUNDLES__STORE", STORE_URL)
            .env("APP__RECOGNIZER__MODEL", model_path())
            .env("APP__RECOGNIZER__SESSIONS", "1")
            .env("APP__REDIS__URL", format!("redis://127.0.0.1:{}/", free_port()))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        s3_env(&mut cmd, store_port);
        let child = cmd.spawn().expect("museum-server");
        Self { child, base: format!("http://127.0.0.1:{port}") }
    }

    /// The palace-demo version `/ready` reports (None while not ready).
    async fn serving(&self) -> Option<String> {
        let r = reqwest::get(format!("{}/ready", self.base)).await.ok()?;
        let body: serde_json::Value = r.json().await.ok()?;
        body["data"]["museums"].as_array()?.iter().find(|m| m["id"] == "palace-demo")?["bundle_version"]
            .as_str()
            .map(str::to_owned)
    }

    async fn wait_serving(&self, version: &str, within: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < within {
            if self.serving().await.as_deref() == Some(version) {
                return Some(start.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn version_of(event: &serde_json::Value) -> String {
    event["report"]["version"].as_str().or(event["version"].as_str()).unwrap_or_default().to_owned()
}

#[tokio::test]
async fn bundles_published_to_object_storage_reach_replicas_through_faults() {
    let moto = Moto::start().await;
    let proxy = Proxy::start(moto.port).await;
    let scratch = tempfile::tempdir().unwrap();
    let builder_root = scratch.path().join("builder");
    copy_tree(&demo().bundles, &builder_root);
    let first = std::fs::read_to_string(builder_root.join("palace-demo/CURRENT")).unwrap().trim().to_owned();

    // The first publish to an empty store seeds it.
    let (ok, event, _) = builder(moto.port, &builder_root, &["publish", "--museum", "palace-demo", &first]);
    assert!(ok, "{event}");

    // A replica with an empty cache pulls it and serves it.
    let cache = scratch.path().join("replica");
    std::fs::create_dir_all(&cache).unwrap();
    let replica = Replica::start(&cache, proxy.port).await;
    assert!(replica.wait_serving(&first, Duration::from_secs(60)).await.is_some(), "the first version never served");
    let (status, body) = upload(&replica.base, photo_of("pd-006", 1), &[]).await;
    assert_eq!((status, body["data"]["exhibit"]["id"].as_str()), (200, Some("pd-006")), "{body}");

    // A change published through the store reaches it.
    let (ok, event, _) =
        builder(moto.port, &builder_root, &["delete", "--museum", "palace-demo", "--exhibit", "pd-024"]);
    assert!(ok, "{event}");
    let second = version_of(&event);
    assert!(replica.wait_serving(&second, Duration::from_secs(15)).await.is_some(), "{second} never served");

    // The store unreachable from the replica during a publish: it keeps
    // serving what it has, and catches up once the store is back.
    proxy.set(false);
    let (ok, event, _) =
        builder(moto.port, &builder_root, &["delete", "--museum", "palace-demo", "--exhibit", "pd-023"]);
    assert!(ok, "{event}");
    let third = version_of(&event);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(replica.serving().await.as_deref(), Some(second.as_str()), "the old version serves meanwhile");
    let (status, _) = upload(&replica.base, photo_of("pd-006", 1), &[]).await;
    assert_eq!(status, 200, "recognition answers meanwhile");
    proxy.set(true);
    let caught_up = replica.wait_serving(&third, Duration::from_secs(15)).await;
    assert!(caught_up.is_some(), "the replica did not catch up once the store was back");

    // The store unreachable from the builder: the publish fails, in seconds,
    // and changes nothing, here or there.
    let dead = free_port();
    let (ok, event, took) = builder(dead, &builder_root, &["delete", "--museum", "palace-demo", "--exhibit", "pd-022"]);
    assert!(!ok && event["event"] == "failed", "{event}");
    assert!(took < Duration::from_secs(60), "an unreachable store failed the publish after {took:?}");
    let local = std::fs::read_to_string(builder_root.join("palace-demo/CURRENT")).unwrap();
    assert_eq!(local.trim(), third, "the builder's CURRENT is unchanged");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(replica.serving().await.as_deref(), Some(third.as_str()));

    // A corrupt version in the store (a file that does not match its
    // manifest's checksum) is pulled and refused; the replica keeps serving.
    let store = object_store::prefix::PrefixStore::new(
        object_store::aws::AmazonS3Builder::new()
            .with_endpoint(format!("http://127.0.0.1:{}", moto.port))
            .with_allow_http(true)
            .with_bucket_name(BUCKET)
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .with_region("us-east-1")
            .with_conditional_put(object_store::aws::S3ConditionalPut::ETagMatch)
            .build()
            .unwrap(),
        "mo",
    );
    let bad = "20991231T000000.000Z-0badc0de";
    let local_bad = scratch.path().join("bad/palace-demo");
    copy_tree(&builder_root.join("palace-demo/versions").join(&third), &local_bad.join("versions").join(bad));
    let manifest = local_bad.join("versions").join(bad).join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(&third, bad);
    std::fs::write(&manifest, text).unwrap();
    std::fs::write(local_bad.join("versions").join(bad).join("exhibits.json"), b"[]").unwrap();
    // Under the store's prefix ("mo"), as the builder writes it.
    let prefixed = bundle_store::Remote::with_store(Arc::new(store), "moto/mo");
    prefixed.upload(&local_bad, "palace-demo", bad).await.unwrap();
    prefixed.publish("palace-demo", bad, Some(&third)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(cache.join("palace-demo/versions").join(bad).is_dir(), "the bad version was pulled");
    assert_eq!(replica.serving().await.as_deref(), Some(third.as_str()), "a corrupt version is refused");
    eprintln!(
        "bundle store: replica caught up {caught_up:?} after the store came back; unreachable store failed a publish in {took:?}"
    );
}
