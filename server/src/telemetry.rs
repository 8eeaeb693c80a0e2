//! Structured logging with `tracing`; request ids come from `tracing-actix-web`.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; `APP_LOG_FORMAT=json` switches to JSON lines.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = if std::env::var("APP_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // Already installed (tests start several apps in one process): keep the first.
    let _ = result;
}
