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

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    museum_server::telemetry::init();
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref()).context("loading settings")?;
    let app = Application::build(settings).await?;
    tracing::info!(port = app.port(), "listening");
    app.run_until_stopped().await.context("server failed")
}
