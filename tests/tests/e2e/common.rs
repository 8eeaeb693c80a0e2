//! Shared helpers: a real `redis-server` on a free loopback port, the demo
//! bundle built once for the whole test binary with the real model, and
//! [`TestApp`]: the server spawned on a random port with its own Redis and
//! fake WeChat.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use index_builder::{BuildOptions, build_bundle, load_collection};
use museum_server::configuration::Settings;
use museum_server::startup::Application;
use recognizer::{Embedder, EmbedderSettings, ModelManifest, Recognizer, RecognizerSettings};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_owned()
}

pub fn model_path() -> PathBuf {
    std::env::var_os("MUSEUM_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("models/sscd-distilled/model.json"))
}

pub fn ort_library() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .expect("ORT_DYLIB_PATH must point at libonnxruntime.so: run the tests with scripts/test.sh")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A `redis-server` child process, killed on drop.
pub struct RedisServer {
    child: Child,
    pub port: u16,
}

impl RedisServer {
    pub fn start() -> Self {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/setup.sh)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

/// `redis-cli -p <port> args…` against a test's Redis, its output lines.
pub fn redis_cli(redis: &RedisServer, args: &[&str]) -> Vec<String> {
    let out = Command::new("redis-cli").arg("-p").arg(redis.port.to_string()).args(args).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Demo {
    /// Holds the collection and bundle root alive for the whole test binary.
    _dir: tempfile::TempDir,
    pub collection: PathBuf,
    /// Bundle root of all museums (`<bundles>/<museum>/versions`, `CURRENT`).
    pub bundles: PathBuf,
    pub version: String,
}

/// The demo museum's id.
pub const DEMO: &str = "palace-demo";

impl Demo {
    /// The demo museum's own bundle root.
    pub fn museum_root(&self) -> PathBuf {
        self.bundles.join(DEMO)
    }
}

/// The demo collection, built into a bundle once for the whole test binary
/// (read-only: a test that changes bundles works on a [`copy_tree`] of it).
pub fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let collection = dir.path().join("collection");
        let records = museum_fixtures::write_collection(&collection).expect("demo collection");
        let bundles = dir.path().join("bundles");
        let collection_data = load_collection(&records, &collection.join("images"), "palace-demo").expect("loads");
        assert!(collection_data.rejected.is_empty(), "{:?}", collection_data.rejected);
        let report = build_bundle(&collection_data, &recognizer(), &bundles, &BuildOptions::default()).expect("builds");
        Demo { _dir: dir, collection, bundles, version: report.version }
    })
}

pub fn recognizer() -> Recognizer {
    let manifest = ModelManifest::load(&model_path()).expect("model manifest");
    let settings = EmbedderSettings { ort_library: ort_library(), sessions: 1, intra_threads: 2 };
    Recognizer::new(Arc::new(Embedder::new(manifest, &settings).expect("model loads")), RecognizerSettings::default())
}

/// Settings for a test server: random port, the given bundle root and Redis.
pub fn settings(bundles: &Path, redis_url: &str) -> Settings {
    let mut s = Settings::load(None).expect("defaults");
    s.server.port = 0;
    s.bundles.root = bundles.to_owned();
    s.redis.url = redis_url.to_owned();
    s.recognizer.model = model_path();
    s.recognizer.ort_library = ort_library().to_string_lossy().into_owned();
    // No background token refresher against the real WeChat host.
    s.wechat.token_check_every_s = 0;
    s
}

/// The fake WeChat API on a free port, for the test's lifetime.
pub struct FakeWechat {
    pub base: String,
    handle: actix_web::dev::ServerHandle,
}

impl FakeWechat {
    pub fn start(options: museum_server::wechat::fake::FakeOptions) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = museum_server::wechat::fake::serve(listener, options).expect("fake wechat");
        let handle = server.handle();
        tokio::spawn(server);
        Self { base, handle }
    }

    /// What `wx.login()` gives the mini-program: a fresh one-time code.
    pub async fn code(&self, user: &str) -> String {
        let body: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/fake/login", self.base))
            .json(&serde_json::json!({ "user": user }))
            .send()
            .await
            .expect("fake login")
            .json()
            .await
            .expect("json");
        body["code"].as_str().expect("code").to_owned()
    }

    /// The next `times` answers of `api` fail with `errcode`.
    pub async fn fail(&self, api: &str, errcode: i64, times: usize) {
        reqwest::Client::new()
            .post(format!("{}/fake/fail", self.base))
            .json(&serde_json::json!({ "api": api, "errcode": errcode, "times": times }))
            .send()
            .await
            .expect("fake fail");
    }

    pub async fn calls(&self, api: &str) -> u64 {
        let body: serde_json::Value =
            reqwest::get(format!("{}/fake/stats", self.base)).await.expect("stats").json().await.expect("json");
        body[api].as_u64().expect("count")
    }
}

impl Drop for FakeWechat {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// `POST /api/v1/session` with a code; (status, body).
pub async fn login(base: &str, code: &str) -> (u16, serde_json::Value) {
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v1/session"))
        .json(&serde_json::json!({ "code": code }))
        .send()
        .await
        .expect("request sent");
    (res.status().as_u16(), res.json().await.expect("json body"))
}

/// Starts the server in the background; returns its base URL.
pub async fn spawn_app(settings: Settings) -> String {
    let app = Application::build(settings).await.expect("app builds");
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    url
}

/// A synthetic visitor photo (JPEG) of demo exhibit `id`.
pub fn photo_of(id: &str, seed: u64) -> Vec<u8> {
    let record = museum_fixtures::records().into_iter().find(|r| r.id == id).expect("demo exhibit");
    let mut rng = museum_fixtures::rng_for(&format!("{id}-{seed}"));
    museum_fixtures::photo::visitor_photo(
        &museum_fixtures::render(&record, 0),
        museum_fixtures::photo::PhotoStyle::visitor(),
        &mut rng,
    )
}

/// Posts `bytes` as multipart field `file`, as `wx.uploadFile` does.
pub async fn upload(base: &str, bytes: Vec<u8>, fields: &[(&str, &str)]) -> (u16, serde_json::Value) {
    upload_as(base, None, bytes, fields).await
}

/// As [`upload`], with a session token.
pub async fn upload_as(
    base: &str,
    token: Option<&str>,
    bytes: Vec<u8>,
    fields: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let mut form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name("photo.jpg").mime_str("image/jpeg").expect("mime"),
    );
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    let mut request = reqwest::Client::new().post(format!("{base}/api/v1/recognize")).multipart(form);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let res = request.send().await.expect("request sent");
    let status = res.status().as_u16();
    (status, res.json().await.expect("json body"))
}

/// The `index-builder` binary admin jobs run (built by scripts/test.sh before the tests).
pub fn builder_bin() -> PathBuf {
    let bin = workspace_root().join("target/release/index-builder");
    assert!(bin.is_file(), "{} missing: run the tests with scripts/test.sh (it builds the binaries)", bin.display());
    bin
}

pub const OPERATOR_KEY: &str = "operator-test-key";

/// Settings with the admin API on: operator key, data folder, builder binary.
pub fn admin_settings(bundles: &Path, redis_url: &str, data_dir: &Path) -> Settings {
    let mut s = settings(bundles, redis_url);
    s.admin.operator_key = museum_server::wechat::Secret::from(OPERATOR_KEY);
    s.admin.data_dir = data_dir.to_owned();
    s.admin.index_builder = builder_bin().to_string_lossy().into_owned();
    s.admin.build_threads = 2;
    s.limits.anonymous_recognize_per_minute = 0;
    s
}

/// Copies a folder tree (bundles are small in tests).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("readdir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// An HTTP call with an optional bearer key and JSON body; (status, body).
pub async fn call_json(
    method: reqwest::Method,
    url: impl reqwest::IntoUrl,
    key: Option<&str>,
    json: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut r = reqwest::Client::new().request(method, url);
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    if let Some(j) = json {
        r = r.json(&j);
    }
    let res = r.send().await.expect("request sent");
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

/// How [`TestApp::spawn`] sets a server up. The default: the demo bundles
/// (shared, read-only), a fresh Redis and a fake WeChat.
#[derive(Default)]
pub struct AppOptions {
    bundles: Option<PathBuf>,
    without_redis: bool,
    admin: bool,
    configure: Vec<Configure>,
}

type Configure = Box<dyn FnOnce(&mut Settings)>;

impl AppOptions {
    /// Serve this bundle root instead of the demo's.
    pub fn bundles(mut self, root: &Path) -> Self {
        self.bundles = Some(root.to_owned());
        self
    }

    /// No Redis: the server is pointed at a port nothing listens on.
    pub fn without_redis(mut self) -> Self {
        self.without_redis = true;
        self
    }

    /// The admin API on ([`admin_settings`]), over a scratch copy of the demo
    /// bundles (or the root given with [`Self::bundles`]) and a scratch data folder.
    pub fn admin(mut self) -> Self {
        self.admin = true;
        self
    }

    /// Changes the settings last, after everything above.
    pub fn with(mut self, configure: impl FnOnce(&mut Settings) + 'static) -> Self {
        self.configure.push(Box::new(configure));
        self
    }
}

/// A running server and what it talks to (zero-to-production's `TestApp`):
/// its base URL, its own Redis and fake WeChat, which stop when it is dropped.
pub struct TestApp {
    /// Base URL, `http://127.0.0.1:<port>`.
    pub address: String,
    /// What the server was built with.
    pub settings: Settings,
    redis: Option<RedisServer>,
    pub wechat: FakeWechat,
    /// Scratch bundles and admin data, for [`AppOptions::admin`].
    _scratch: Option<tempfile::TempDir>,
}

impl TestApp {
    pub async fn spawn(options: AppOptions) -> Self {
        let redis = (!options.without_redis).then(RedisServer::start);
        let redis_url =
            redis.as_ref().map(RedisServer::url).unwrap_or_else(|| format!("redis://127.0.0.1:{}/", free_port()));
        let wechat = FakeWechat::start(Default::default());
        let (mut settings, scratch) = if options.admin {
            let scratch = tempfile::tempdir().expect("temp dir");
            let bundles = match &options.bundles {
                Some(root) => root.clone(),
                None => {
                    let copy = scratch.path().join("bundles");
                    copy_tree(&demo().bundles, &copy);
                    copy
                }
            };
            (admin_settings(&bundles, &redis_url, &scratch.path().join("admin")), Some(scratch))
        } else {
            let bundles = options.bundles.unwrap_or_else(|| demo().bundles.clone());
            (settings(&bundles, &redis_url), None)
        };
        settings.wechat.api.base_url = wechat.base.clone();
        for configure in options.configure {
            configure(&mut settings);
        }
        let address = spawn_app(settings.clone()).await;
        Self { address, settings, redis, wechat, _scratch: scratch }
    }

    /// Another server process over the same bundles, admin data and Redis (as behind a load balancer).
    pub async fn spawn_peer(&self) -> String {
        spawn_app(self.settings.clone()).await
    }

    /// `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The bundle root the server serves.
    pub fn bundles(&self) -> &Path {
        &self.settings.bundles.root
    }

    /// The admin data folder ([`AppOptions::admin`]).
    pub fn admin_data(&self) -> &Path {
        &self.settings.admin.data_dir
    }

    pub fn redis(&self) -> &RedisServer {
        self.redis.as_ref().expect("spawned with a Redis")
    }

    /// An HTTP call to `path` with an optional bearer key and JSON body; (status, body).
    pub async fn call_json(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        json: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        call_json(method, self.url(path), key, json).await
    }

    /// `GET path`, anonymous; (status, body).
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.call_json(reqwest::Method::GET, path, None, None).await
    }

    /// A recognition upload, anonymous.
    pub async fn upload(&self, bytes: Vec<u8>, fields: &[(&str, &str)]) -> (u16, serde_json::Value) {
        upload(&self.address, bytes, fields).await
    }

    /// A recognition upload with a session token.
    pub async fn upload_as(
        &self,
        token: Option<&str>,
        bytes: Vec<u8>,
        fields: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        upload_as(&self.address, token, bytes, fields).await
    }

    /// `POST /api/v1/session` with a code; (status, body).
    pub async fn login(&self, code: &str) -> (u16, serde_json::Value) {
        login(&self.address, code).await
    }

    /// Logs WeChat user `user` in with a fresh code; the session token.
    pub async fn session_for(&self, user: &str) -> String {
        let (status, body) = self.login(&self.wechat.code(user).await).await;
        assert_eq!(status, 200, "{body}");
        body["data"]["token"].as_str().expect("token").to_owned()
    }

    /// The operator creates museum `id`; its admin key.
    pub async fn create_museum(&self, id: &str) -> String {
        let (status, body) = self
            .call_json(
                reqwest::Method::POST,
                "/api/v1/admin/museums",
                Some(OPERATOR_KEY),
                Some(serde_json::json!({ "id": id })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"]["api_key"].as_str().expect("api_key").to_owned()
    }
}

/// A catalog image of demo exhibit `id`, as a JPEG.
pub fn jpeg(id: &str) -> Vec<u8> {
    let record = museum_fixtures::records().into_iter().find(|r| r.id == id).unwrap();
    let mut out = std::io::Cursor::new(Vec::new());
    museum_fixtures::render(&record, 0).write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// A zip holding `files`.
pub fn collection_zip(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in files {
        w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Polls an admin job until it ends; the job and the stages it went through.
pub async fn wait_job(base: &str, museum: &str, key: &str, job: &str) -> (serde_json::Value, Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut stages = Vec::new();
    loop {
        let (status, body) = call_json(
            reqwest::Method::GET,
            &format!("{base}/api/v1/admin/museums/{museum}/jobs/{job}"),
            Some(key),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let job = &body["data"];
        if let Some(stage) = job["progress"]["stage"].as_str()
            && stages.last().is_none_or(|s| s != stage)
        {
            stages.push(stage.to_owned());
        }
        if job["state"] != "running" {
            return (job.clone(), stages);
        }
        assert!(Instant::now() < deadline, "job {job} did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the server serves `version` for `museum`.
pub async fn wait_serving(base: &str, key: &str, museum: &str, version: &str) -> Duration {
    let started = Instant::now();
    loop {
        let (_, body) =
            call_json(reqwest::Method::GET, &format!("{base}/api/v1/admin/museums/{museum}/versions"), Some(key), None)
                .await;
        if body["data"]["serving"] == version {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{museum} never served {version}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends a multipart form with an admin key; the answer's JSON body.
pub async fn send_form(
    method: reqwest::Method,
    url: &str,
    key: &str,
    form: reqwest::multipart::Form,
) -> serde_json::Value {
    let res = reqwest::Client::new().request(method, url).bearer_auth(key).multipart(form).send().await.unwrap();
    res.json().await.unwrap()
}
