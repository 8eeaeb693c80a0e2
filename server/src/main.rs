//! `museum-server`: the visitor API.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use museum_server::configuration::Settings;
use museum_server::startup::Application;

#[derive(Parser, Debug)]
#[command(name = "museum-server", version, about = "Museum officer visitor API")]
struct Cli {
    /// TOML file overriding the compiled-in defaults (environment APP__* overrides both).
    #[arg(long, env = "APP_CONFIG")]
    config: Option<PathBuf>,
}

/// Exit status for settings that cannot be loaded or are invalid.
const EXIT_BAD_SETTINGS: i32 = 2;

/// The settings, checked before anything starts; on a problem, says which and exits.
fn settings(cli: &Cli) -> Settings {
    let checked = Settings::load(cli.config.as_deref())
        .map_err(|e| format!("cannot load settings: {e}"))
        .and_then(|s| s.validate().map(|()| s).map_err(|e| e.to_string()));
    checked.unwrap_or_else(|message| {
        eprintln!("museum-server: {message}");
        std::process::exit(EXIT_BAD_SETTINGS)
    })
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    museum_server::telemetry::init();
    let cli = Cli::parse();
    let settings = settings(&cli);
    let app = Application::build(settings).await?;
    tracing::info!(port = app.port(), "listening");
    app.run_until_stopped().await.context("server failed")
}
