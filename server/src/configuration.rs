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
    /// Prefix turning image names into URLs ("" keeps names).
    #[serde(default)]
    pub media_base_url: String,
    /// Seconds in-flight requests get to finish on shutdown.
    pub shutdown_timeout_s: u64,
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
    /// Bundle root written by `index-builder` (holds `CURRENT` and `versions/`).
    pub root: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    pub url: String,
    /// How long a recognition result stays cached.
    pub cache_ttl_s: u64,
    /// Per-command timeout; a slow Redis must not slow recognition down.
    pub timeout_ms: u64,
}

impl Settings {
    /// Loads defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, config::ConfigError> {
        let mut builder =
            config::Config::builder().add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file).required(true));
        }
        builder
            .add_source(
                config::Environment::with_prefix("APP").prefix_separator("__").separator("__").try_parsing(true),
            )
            .build()?
            .try_deserialize()
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
        // SAFETY: only this test sets these variables.
        unsafe {
            std::env::set_var("APP__WECHAT__RETRIES", "5");
            std::env::set_var("APP__WECHAT__SECRET", "s3cr3t-value");
        }
        let s = Settings::load(None).unwrap();
        unsafe {
            std::env::remove_var("APP__WECHAT__RETRIES");
            std::env::remove_var("APP__WECHAT__SECRET");
        }
        assert_eq!(s.wechat.api.retries, 5);
        assert_eq!(s.wechat.api.secret.expose(), "s3cr3t-value");
        assert!(!format!("{s:?}").contains("s3cr3t-value"));
    }
}
