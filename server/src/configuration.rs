//! Settings: compiled-in defaults, then an optional TOML file, then
//! environment variables `APP__SECTION__KEY` (e.g. `APP__SERVER__PORT=9000`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

const DEFAULTS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub recognizer: RecognizerSettings,
    pub bundles: BundleSettings,
    pub redis: RedisSettings,
    pub wechat: WechatConfig,
    pub sessions: SessionSettings,
    pub limits: LimitSettings,
    pub admin: AdminSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AdminSettings {
    /// Operator bearer key; empty turns the admin API off.
    pub operator_key: crate::wechat::Secret,
    pub data_dir: PathBuf,
    /// `index-builder` binary; empty: next to the running binary, then `PATH`.
    #[serde(default)]
    pub index_builder: String,
    pub build_threads: usize,
    pub max_import_bytes: usize,
    pub keep_versions: usize,
    #[serde(default)]
    pub allow_hosts: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WechatConfig {
    #[serde(flatten)]
    pub api: crate::wechat::WechatSettings,
    pub token_refresh_margin_s: u64,
    pub token_check_every_s: u64,
    /// Run the background `access_token` keeper. Off by default: no route
    /// calls a WeChat API that needs the token yet; turn it on with the
    /// feature that does (subscribe messages, QR codes, ...).
    #[serde(default)]
    pub keep_access_token: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SessionSettings {
    pub ttl_s: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LimitSettings {
    pub anonymous_recognize_per_minute: u32,
    pub visitor_recognize_per_minute: u32,
    pub login_per_minute: u32,
    pub trust_forwarded_for: bool,
    pub recognize_timeout_ms: u64,
    pub upload_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    /// 0 picks a free port (tests).
    pub port: u16,
    /// Largest accepted upload, in bytes (phone photos are 2-8 MB).
    pub max_upload_bytes: usize,
    /// Largest accepted image, in pixels, checked from the header before decoding.
    pub max_pixels: u64,
    /// JPEGs with a long side of at least twice this decode at a reduced DCT scale (0: never).
    pub decode_reduce_to: u32,
    /// HTTP worker threads (async; CPU work runs elsewhere).
    pub workers: usize,
    /// Base URL of the media cards point at (a CDN; "" is this server's `/media`).
    #[serde(default)]
    pub media_base_url: String,
    /// Seconds in-flight requests get to finish on shutdown.
    pub shutdown_timeout_s: u64,
    /// Seconds between SIGTERM and closing the listener, while `/ready`
    /// answers 503 so a load balancer stops sending new requests (behind one,
    /// more than its health check's interval times its fall count).
    #[serde(default)]
    pub drain_s: u64,
    /// Development: serve the visitor page's files from this folder (read on
    /// each request) instead of the copies embedded in the binary.
    #[serde(default)]
    pub web_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RecognizerSettings {
    /// Model manifest (JSON).
    pub model: PathBuf,
    /// `libonnxruntime.so`; empty means the `ORT_DYLIB_PATH` environment variable.
    #[serde(default)]
    pub ort_library: String,
    /// ONNX sessions: how many recognitions run at once.
    pub sessions: usize,
    /// Threads per inference.
    pub intra_threads: usize,
    /// Requests that may wait for a session before new ones get 503.
    pub queue: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BundleSettings {
    /// Bundle root written by `index-builder` (holds `CURRENT` and `versions/`);
    /// with `store`, also the local cache versions are pulled into.
    pub root: PathBuf,
    /// An S3-protocol object store the builder publishes to
    /// (`s3://bucket[/prefix]`, configured by the `AWS_*` variables; "": none,
    /// the bundle root is all). Each second the server reads every museum's
    /// pointer there and pulls a newly published version into `root`.
    #[serde(default)]
    pub store: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    /// A single node (unused when `cluster_nodes` names any).
    pub url: String,
    /// A Redis Cluster: some of its nodes' `redis://` URLs (the client learns
    /// the rest); env `APP__REDIS__CLUSTER_NODES`, comma-separated.
    #[serde(default)]
    pub cluster_nodes: Vec<String>,
    /// How long a recognition result stays cached.
    pub cache_ttl_s: u64,
    /// Per-command timeout; a slow Redis must not slow recognition down.
    pub timeout_ms: u64,
}

/// What [`Settings::validate`] found wrong, one line per setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSettings(pub Vec<String>);

impl std::fmt::Display for InvalidSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid settings:")?;
        for problem in &self.0 {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InvalidSettings {}

impl Settings {
    /// Loads defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, config::ConfigError> {
        Self::load_with_env(file, None)
    }

    /// [`Settings::load`], reading `env` instead of the process environment
    /// when given (tests: no process-wide `set_var`, which races other threads).
    fn load_with_env(
        file: Option<&Path>,
        env: Option<config::Map<String, String>>,
    ) -> Result<Self, config::ConfigError> {
        let mut builder =
            config::Config::builder().add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file).required(true));
        }
        builder
            .add_source(
                config::Environment::with_prefix("APP")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .with_list_parse_key("redis.cluster_nodes")
                    .source(env),
            )
            .build()?
            .try_deserialize()
    }

    /// Every problem with these settings, so the server refuses to start
    /// with a clear message instead of clamping values in the code.
    pub fn validate(&self) -> Result<(), InvalidSettings> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: &str, why: &str| {
            if !ok {
                problems.push(format!("{key}: {why}"));
            }
        };
        let (server, rec, admin) = (&self.server, &self.recognizer, &self.admin);
        check(!server.host.trim().is_empty(), "server.host", "must not be empty");
        check(server.max_upload_bytes > 0, "server.max_upload_bytes", "must be at least 1");
        check(server.max_pixels > 0, "server.max_pixels", "must be at least 1");
        check(server.workers > 0, "server.workers", "must be at least 1");
        let media = &server.media_base_url;
        check(
            media.is_empty()
                || reqwest::Url::parse(media).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host()),
            "server.media_base_url",
            "must be empty (this server's /media) or an http(s) URL",
        );
        check(!rec.model.as_os_str().is_empty(), "recognizer.model", "must name the model manifest");
        check(rec.sessions > 0, "recognizer.sessions", "must be at least 1 (recognitions running at once)");
        check(rec.intra_threads > 0, "recognizer.intra_threads", "must be at least 1");
        check(!self.bundles.root.as_os_str().is_empty(), "bundles.root", "must not be empty");
        check(
            self.bundles.store.is_empty() || self.bundles.store.starts_with("s3://"),
            "bundles.store",
            "must be empty or an s3://bucket[/prefix] URL",
        );
        check(!admin.data_dir.as_os_str().is_empty(), "admin.data_dir", "must not be empty");
        check(admin.build_threads > 0, "admin.build_threads", "must be at least 1");
        check(admin.max_import_bytes > 0, "admin.max_import_bytes", "must be at least 1");
        check(admin.keep_versions > 0, "admin.keep_versions", "must be at least 1 (the published version)");
        let redis = &self.redis;
        match redis::parse_redis_url(&redis.url) {
            _ if redis.url.trim().is_empty() => check(false, "redis.url", "must not be empty"),
            None => check(false, "redis.url", "is not a redis:// URL"),
            Some(_) => {}
        }
        for node in &redis.cluster_nodes {
            check(redis::parse_redis_url(node).is_some(), "redis.cluster_nodes", "each must be a redis:// URL");
        }
        check(redis.timeout_ms > 0, "redis.timeout_ms", "must be at least 1");
        let wechat = &self.wechat;
        check(reqwest::Url::parse(&wechat.api.base_url).is_ok(), "wechat.base_url", "is not a URL");
        check(wechat.api.timeout_ms > 0, "wechat.timeout_ms", "must be at least 1");
        check(
            !wechat.keep_access_token || wechat.token_check_every_s > 0,
            "wechat.token_check_every_s",
            "must be at least 1 when wechat.keep_access_token is on",
        );
        check(self.sessions.ttl_s > 0, "sessions.ttl_s", "must be at least 1");
        check(self.limits.recognize_timeout_ms > 0, "limits.recognize_timeout_ms", "must be at least 1");
        check(self.limits.upload_timeout_ms > 0, "limits.upload_timeout_ms", "must be at least 1");
        if problems.is_empty() { Ok(()) } else { Err(InvalidSettings(problems)) }
    }

    /// The ONNX Runtime library path, from settings or `ORT_DYLIB_PATH`.
    pub fn ort_library(&self) -> Option<PathBuf> {
        if !self.recognizer.ort_library.is_empty() {
            return Some(PathBuf::from(&self.recognizer.ort_library));
        }
        std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_files_override_them() {
        let s = Settings::load(None).unwrap();
        assert_eq!(s.server.host, "127.0.0.1");
        assert!(s.server.max_upload_bytes >= 8 << 20, "phone photos must fit");
        let dir = std::env::temp_dir().join(format!("cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "[server]\nport = 9123\n").unwrap();
        let s = Settings::load(Some(&file)).unwrap();
        assert_eq!(s.server.port, 9123);
        assert_eq!(s.redis.cache_ttl_s, Settings::load(None).unwrap().redis.cache_ttl_s);
        assert!(Settings::load(Some(&dir.join("missing.toml"))).is_err());
    }

    #[test]
    fn environment_overrides_nested_and_flattened_keys_and_secrets_do_not_print() {
        let env = [("APP__WECHAT__RETRIES", "5"), ("APP__WECHAT__SECRET", "s3cr3t-value")];
        let env = env.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        let s = Settings::load_with_env(None, Some(env)).unwrap();
        assert_eq!(s.wechat.api.retries, 5);
        assert_eq!(secrecy::ExposeSecret::expose_secret(&s.wechat.api.secret), "s3cr3t-value");
        assert!(!format!("{s:?}").contains("s3cr3t-value"), "secrets never print");
        assert!(!format!("{s:?}").contains("s3cr3t-value"));
    }

    #[test]
    fn a_redis_cluster_is_named_by_its_nodes_comma_separated_in_the_environment() {
        let env = [("APP__REDIS__CLUSTER_NODES", "redis://10.0.0.1:6379,redis://10.0.0.2:6379")];
        let env = env.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        let s = Settings::load_with_env(None, Some(env)).unwrap();
        assert_eq!(s.redis.cluster_nodes, ["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"]);
        assert_eq!(s.validate(), Ok(()));
        // Other values with a comma stay strings.
        let env = [
            ("APP__SERVER__MEDIA_BASE_URL", "https://cdn.example/a,b"),
            ("APP__REDIS__CLUSTER_NODES", "10.0.0.1:6379"),
        ];
        let env = env.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        let s = Settings::load_with_env(None, Some(env)).unwrap();
        assert_eq!(s.server.media_base_url, "https://cdn.example/a,b");
        let problems = s.validate().unwrap_err();
        assert_eq!(problems.0, ["redis.cluster_nodes: each must be a redis:// URL"]);
    }

    #[test]
    fn the_defaults_are_valid_and_the_token_keeper_is_off() {
        let s = Settings::load(None).unwrap();
        assert_eq!(s.validate(), Ok(()));
        assert!(!s.wechat.keep_access_token);
    }

    #[test]
    fn validate_lists_every_problem() {
        let env = [
            ("APP__RECOGNIZER__SESSIONS", "0"),
            ("APP__SERVER__MAX_UPLOAD_BYTES", "0"),
            ("APP__SERVER__WORKERS", "0"),
            ("APP__SERVER__MEDIA_BASE_URL", "cdn.example/media"),
            ("APP__REDIS__URL", ""),
            ("APP__LIMITS__RECOGNIZE_TIMEOUT_MS", "0"),
            ("APP__WECHAT__KEEP_ACCESS_TOKEN", "true"),
            ("APP__WECHAT__TOKEN_CHECK_EVERY_S", "0"),
        ];
        let env = env.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        let s = Settings::load_with_env(None, Some(env)).unwrap();
        let problems = s.validate().unwrap_err();
        let keys: Vec<&str> = problems.0.iter().map(|p| p.split(':').next().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "server.max_upload_bytes",
                "server.workers",
                "server.media_base_url",
                "recognizer.sessions",
                "redis.url",
                "wechat.token_check_every_s",
                "limits.recognize_timeout_ms"
            ],
            "{problems}"
        );
        assert!(problems.to_string().contains("recognizer.sessions: must be at least 1"), "{problems}");

        let mut s = Settings::load(None).unwrap();
        s.redis.url = "http://example.com".into();
        s.wechat.token_check_every_s = 0; // fine while the keeper is off
        assert_eq!(s.validate().unwrap_err().0, ["redis.url: is not a redis:// URL"]);
    }
}
