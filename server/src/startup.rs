//! Building the application: model, bundle, cache, HTTP server on a listener.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use recognizer::{DecodeLimits, Embedder, EmbedderSettings, ModelManifest, Recognizer, RecognizerSettings, bundle};
use tracing_actix_web::TracingLogger;

use crate::configuration::Settings;
use crate::state::AppState;
use crate::{metrics, routes, telemetry};

/// How often the published versions are checked (a cheap read of each museum's `CURRENT`).
const RELOAD_POLL: Duration = Duration::from_secs(1);

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    /// Stopped when the server stops (or the application is dropped unstarted).
    tasks: BackgroundTasks,
}

/// Background tasks of one application, aborted when dropped.
#[derive(Debug)]
struct BackgroundTasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for BackgroundTasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("port", &self.port).finish_non_exhaustive()
    }
}

impl Application {
    /// Loads the model and the published bundle and binds the listener.
    /// A missing bundle is not fatal: the server starts unready (503) and
    /// picks the bundle up once one is published.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.validate()?;
        let model = ModelManifest::load(&settings.recognizer.model)?;
        let ort_library =
            settings.ort_library().context("no ONNX Runtime library: set recognizer.ort_library or ORT_DYLIB_PATH")?;
        let embedder_settings = EmbedderSettings {
            ort_library,
            sessions: settings.recognizer.sessions,
            intra_threads: settings.recognizer.intra_threads,
        };
        // Each recognition runs on one thread (the `running` permits give
        // one per session): OpenCV's and FAISS's pools must not add more.
        recognizer::local::set_opencv_threads(1)?;
        recognizer::index::set_search_threads(1);
        let manifest = model.clone();
        let embedder = tokio::task::spawn_blocking(move || Embedder::new(manifest, &embedder_settings))
            .await?
            .context("loading the model")?;
        let recognizer = Recognizer::new(
            Arc::new(embedder),
            RecognizerSettings {
                limits: DecodeLimits {
                    max_pixels: settings.server.max_pixels,
                    reduce_to: settings.server.decode_reduce_to,
                    ..DecodeLimits::default()
                },
                ..RecognizerSettings::default()
            },
        );
        let state = web::Data::new(AppState::new(recognizer, model, settings.clone())?);
        let loader = state.clone();
        tokio::task::spawn_blocking(move || load_published(&loader, &mut Default::default())).await?;
        if state.catalog().is_empty() {
            tracing::warn!("no bundle loaded; not ready until one is published");
        }

        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))
            .with_context(|| format!("binding {}:{}", settings.server.host, settings.server.port))?;
        let port = listener.local_addr()?.port();
        let app_state = state.clone();
        let metrics = web::Data::new(state.metrics.clone());
        let uploads = routes::Uploads::new(&settings);
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(crate::admin::scope::authorize))
                .wrap(from_fn(metrics::track))
                .wrap(from_fn(telemetry::request_id_scope))
                .wrap(TracingLogger::default())
                .app_data(app_state.clone())
                .app_data(metrics.clone())
                .configure(|cfg| routes::configure(cfg, &uploads))
        })
        .workers(settings.server.workers)
        .shutdown_timeout(settings.server.shutdown_timeout_s)
        // SIGTERM drains first (see `drain_on_signal`).
        .disable_signals()
        .listen(listener)?
        .run();
        let remote = match settings.bundles.store.as_str() {
            "" => None,
            url => Some(bundle_store::Remote::open(url).context("opening bundles.store")?),
        };
        let drain = Duration::from_secs(settings.server.drain_s);
        let mut tasks = BackgroundTasks(vec![
            tokio::spawn(watch_published(state.clone())),
            tokio::spawn(drain_on_signal(state.clone(), server.handle(), drain)),
            tokio::spawn(migrate_analytics(state.clone())),
        ]);
        if let Some(remote) = remote {
            tasks.0.push(tokio::spawn(pull_published(state.clone(), remote)));
        }
        // Only a feature calling a WeChat API with the token needs it kept fresh.
        if settings.wechat.keep_access_token {
            let every = Duration::from_secs(settings.wechat.token_check_every_s);
            tasks.0.push(tokio::spawn(state.tokens.clone().keep_fresh(every)));
        }
        Ok(Self { port, server, state, tasks })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server: `graceful` lets in-flight requests finish first.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGINT/SIGTERM (or a stop through [`Application::handle`]);
    /// in-flight requests are drained first, then the background tasks stop.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Self { server, tasks, .. } = self;
        let result = server.await;
        drop(tasks);
        tracing::info!("server stopped; background tasks stopped");
        result
    }
}

/// On SIGTERM or SIGINT: `/ready` answers 503 for `drain` while requests
/// are still served (a load balancer's health check takes the replica out
/// of rotation), then the listener closes and in-flight requests get
/// `server.shutdown_timeout_s` to finish.
async fn drain_on_signal(state: web::Data<AppState>, server: actix_web::dev::ServerHandle, drain: Duration) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot listen for SIGTERM/SIGINT; stop the server with SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    state.draining.store(true, std::sync::atomic::Ordering::Relaxed);
    tracing::info!(
        drain_s = drain.as_secs(),
        "stopping: draining, then finishing requests in flight (again to stop now)"
    );
    // A second signal stops at once, during the drain or the graceful stop.
    let graceful = async {
        tokio::time::sleep(drain).await;
        server.stop(true).await;
    };
    tokio::select! {
        _ = graceful => {}
        _ = term.recv() => server.stop(false).await,
        _ = int.recv() => server.stop(false).await,
    }
}

/// With `bundles.store`: each second, every museum's pointer in the object
/// store; a newly published version is pulled into the bundle root and the
/// local `CURRENT` pointed at it, which `watch_published` then loads (and
/// refuses, keeping the old one, if it is corrupt or for another model).
/// While the store is unreachable, what is loaded keeps serving; the pull
/// is tried again each second.
async fn pull_published(state: web::Data<AppState>, remote: bundle_store::Remote) {
    let mut failing = false;
    loop {
        let result = pull_once(state.bundle_root(), &remote).await;
        match result {
            Ok(()) if failing => {
                tracing::info!(store = remote.url(), "bundle store reachable again");
                failing = false;
            }
            Ok(()) => {}
            Err(e) if !failing => {
                tracing::warn!(error = %e, "bundle store: cannot pull; serving what is loaded and trying each second");
                failing = true;
            }
            Err(e) => tracing::debug!(error = %e, "bundle store: still cannot pull"),
        }
        tokio::time::sleep(RELOAD_POLL).await;
    }
}

async fn pull_once(root: &std::path::Path, remote: &bundle_store::Remote) -> Result<(), bundle_store::Error> {
    for museum in remote.museums().await? {
        let Some(published) = remote.published(&museum).await? else { continue };
        let Ok(mroot) = bundle::museum_root(root, &museum) else { continue };
        if bundle::current_version(&mroot).ok().flatten().as_deref() == Some(published.version.as_str()) {
            continue;
        }
        // (Pulling creates the museum's folder.)
        let files = remote.pull(&museum, &published.version, &mroot).await?;
        bundle_store::point_local(&mroot, &published.version)
            .map_err(|source| bundle_store::Error::Io { context: "pointing CURRENT".into(), source })?;
        tracing::info!(%museum, version = %published.version, files, "pulled the published version from the bundle store");
    }
    Ok(())
}

/// Moves analytics counters written before their keys had a hash tag: at
/// start, and every 10 minutes for the first hour (servers of the old
/// version may still count under the old keys during a rolling upgrade),
/// then until a pass finds none; tried each minute while Redis is down.
async fn migrate_analytics(state: web::Data<AppState>) {
    let started = std::time::Instant::now();
    loop {
        let wait = match state.analytics.migrate_legacy().await {
            Ok(0) if started.elapsed() >= Duration::from_secs(3600) => return,
            Ok(0) => Duration::from_secs(600),
            Ok(moved) => {
                tracing::info!(moved, "analytics counters moved to hash-tagged keys");
                Duration::from_secs(600)
            }
            Err(e) => {
                tracing::debug!(error = %e, "analytics counters not migrated yet");
                Duration::from_secs(60)
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// Loads newly published versions, museum by museum. Requests in flight keep
/// the bundles they started with; a bundle that fails to load is refused (and
/// not retried until another version is published) while the old one serves on.
async fn watch_published(state: web::Data<AppState>) {
    let mut refused = std::collections::HashMap::new();
    loop {
        tokio::time::sleep(RELOAD_POLL).await;
        let worker = state.clone();
        refused = match tokio::task::spawn_blocking(move || {
            load_published(&worker, &mut refused);
            refused
        })
        .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "reload task failed");
                Default::default()
            }
        };
    }
}

/// One pass over the bundle root: loads what changed, drops what vanished.
fn load_published(state: &AppState, refused: &mut std::collections::HashMap<String, String>) {
    let root = state.bundle_root();
    let museums = match bundle::list_museums(root) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list museums");
            state.set_catalog_complete(false);
            return;
        }
    };
    let mut complete = true;
    let catalog = state.catalog();
    for (loaded, _) in catalog.iter() {
        if !museums.contains(loaded) {
            tracing::warn!(museum = %loaded, "museum's bundles are gone; no longer served");
            state.unload(loaded);
        }
    }
    for museum in museums {
        let Ok(mroot) = bundle::museum_root(root, &museum) else { continue };
        let published = match bundle::current_version(&mroot) {
            Ok(Some(v)) => v,
            Ok(None) => continue,
            Err(_) => {
                complete = false;
                continue;
            }
        };
        let loaded = catalog.museum(&museum).map(|b| b.version().to_owned());
        if loaded.as_deref() == Some(published.as_str()) || refused.get(&museum) == Some(&published) {
            continue;
        }
        match state.reload(&museum) {
            Ok(version) => {
                tracing::info!(%museum, %version, "published bundle loaded");
                refused.remove(&museum);
            }
            Err(e) => {
                tracing::error!(%museum, error = %e, version = %published, "published bundle refused; previous one keeps serving");
                refused.insert(museum, published);
            }
        }
    }
    // Every museum that publishes a bundle is served (by it or an earlier one).
    let catalog = state.catalog();
    complete &= bundle::list_museums(root).is_ok_and(|all| {
        all.iter().all(|m| {
            catalog.museum(m).is_some()
                || bundle::museum_root(root, m).ok().and_then(|r| bundle::current_version(&r).ok()).flatten().is_none()
        })
    });
    state.set_catalog_complete(complete);
}
