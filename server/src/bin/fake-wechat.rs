//! `fake-wechat`: the local WeChat API stand-in, for development (see
//! `museum_server::wechat::fake` for the protocol and the control routes).

use std::net::TcpListener;

use clap::Parser;
use museum_server::wechat::fake::{FakeOptions, serve};

#[derive(Parser, Debug)]
#[command(name = "fake-wechat", about = "Local stand-in for api.weixin.qq.com (jscode2session, stable_token)")]
struct Cli {
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: String,
    #[arg(long, env = "APP__WECHAT__APPID", default_value = "wx-demo-appid")]
    appid: String,
    #[arg(long, env = "APP__WECHAT__SECRET", default_value = "demo-secret", hide_env_values = true)]
    secret: String,
    #[arg(long, default_value_t = 7200)]
    token_expires_in: u64,
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    museum_server::telemetry::init();
    let cli = Cli::parse();
    let listener = TcpListener::bind(&cli.listen)?;
    tracing::info!(addr = %listener.local_addr()?, "fake WeChat API listening");
    serve(
        listener,
        FakeOptions { appid: cli.appid, secret: cli.secret, token_expires_in: cli.token_expires_in, renew_within: 300 },
    )?
    .await
}
