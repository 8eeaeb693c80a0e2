//! `index-builder`: the operator's command line for collections and bundles.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use builder_protocol::{Event, Failure, FailureKind, MuseumVersions, VerdictStatus};
use clap::{Parser, Subcommand};
use index_builder::build::BuildError;
use index_builder::collection::CollectionError;
use index_builder::import::ImportError;
use index_builder::store::{self, MuseumLock, StoreError};
use index_builder::{BuildOptions, build_bundle, load_collection};
use recognizer::{Crop, Embedder, EmbedderSettings, ModelManifest, Recognizer, RecognizerSettings, bundle};

#[derive(Parser, Debug)]
#[command(name = "index-builder", version, about = "Build, publish and inspect recognition bundles")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Output for scripts and the server: one JSON event per line on stdout
    /// (progress, then the result or the failure; see `builder-protocol`).
    #[arg(long, global = true)]
    json: bool,
    /// Give up after this many seconds when another index-builder is working
    /// on the museum (default: wait for it).
    #[arg(long, global = true, value_name = "SECONDS")]
    lock_wait: Option<f64>,
    /// Also publish to this S3-protocol object store (`s3://bucket[/prefix]`,
    /// configured by the standard AWS_* variables): every publish, rollback,
    /// build and change uploads the version and then conditionally replaces
    /// the museum's pointer there, before the local CURRENT changes.
    #[arg(long, global = true, env = "MUSEUM_BUNDLE_STORE", value_name = "URL")]
    store: Option<String>,
}

#[derive(clap::Args, Debug)]
struct ModelArgs {
    /// Model manifest (JSON) naming the ONNX file and its preprocessing.
    #[arg(long, env = "MUSEUM_MODEL", default_value = "models/sscd-distilled/model.json")]
    model: PathBuf,
    /// ONNX Runtime shared library.
    #[arg(long, env = "ORT_DYLIB_PATH")]
    ort_lib: PathBuf,
    /// Threads for one inference.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

/// How `eval` looks at photos, for measuring alternatives. Builds calibrate
/// with the defaults, the pipeline the server runs.
#[derive(clap::Args, Debug)]
struct PipelineArgs {
    /// Which windows of a photo are embedded.
    #[arg(long, value_enum, default_value_t = CropPolicy::Adaptive)]
    crops: CropPolicy,
    /// Share of each side the grid windows cover.
    #[arg(long, default_value_t = 0.6)]
    grid_share: f32,
    /// Photo keypoints that vote over every catalog descriptor for images to
    /// verify, on the closer look (`--crops adaptive`) or always (other
    /// policies). Default 0: no vote.
    #[arg(long)]
    voters: Option<usize>,
    /// Exhibits of the embedding's shortlist whose best view is verified.
    #[arg(long)]
    verify_shortlist: Option<usize>,
}

/// Windows of the photo the model embeds.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum CropPolicy {
    /// The whole frame, then the grid when nothing matched (the default).
    Adaptive,
    /// The whole frame only.
    Whole,
    /// The whole frame and the grid, always.
    All,
    /// The whole frame and a centred 75% window (the policy before the grid).
    Centre,
}

impl ModelArgs {
    /// The recognizer the server runs, with this model.
    fn recognizer(&self) -> anyhow::Result<Recognizer> {
        self.recognizer_with(RecognizerSettings::default())
    }

    fn recognizer_with(&self, settings: RecognizerSettings) -> anyhow::Result<Recognizer> {
        let manifest = ModelManifest::load(&self.model)?;
        let embedder_settings =
            EmbedderSettings { ort_library: self.ort_lib.clone(), sessions: 1, intra_threads: self.threads };
        let embedder = Arc::new(Embedder::new(manifest, &embedder_settings).context("loading the model")?);
        Ok(Recognizer::new(embedder, settings))
    }
}

impl PipelineArgs {
    fn settings(&self) -> RecognizerSettings {
        let mut settings = RecognizerSettings::default();
        let grid = Crop::grid(self.grid_share);
        (settings.crops, settings.more_crops) = match self.crops {
            CropPolicy::Adaptive => (vec![Crop::WHOLE], grid),
            CropPolicy::Whole => (vec![Crop::WHOLE], Vec::new()),
            CropPolicy::All => (std::iter::once(Crop::WHOLE).chain(grid).collect(), Vec::new()),
            CropPolicy::Centre => (vec![Crop::WHOLE, Crop::centred(0.75)], Vec::new()),
        };
        if let Some(v) = self.voters {
            settings.local.voters = v;
        }
        if let Some(v) = self.verify_shortlist {
            settings.local.verify_shortlist = v;
        }
        settings
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Stage a museum's collection (records + images from a zip, a folder or URLs, or IIIF manifests) and validate it.
    Import {
        #[arg(long)]
        museum: String,
        /// Records: a JSON array or a CSV file.
        #[arg(long)]
        records: Option<PathBuf>,
        /// A zip of the images the records name.
        #[arg(long)]
        zip: Option<PathBuf>,
        /// A folder of the images the records name.
        #[arg(long)]
        images: Option<PathBuf>,
        /// IIIF Presentation 3 manifest URL (repeatable; instead of --records).
        #[arg(long)]
        iiif: Vec<String>,
        /// Folder to stage into (must not exist yet).
        #[arg(long)]
        out: PathBuf,
        /// Host allowed even on an internal address (repeatable; e.g. a museum's intranet server).
        #[arg(long)]
        allow_host: Vec<String>,
    },
    /// Validate records against an image folder and print every record's verdict.
    Validate {
        #[arg(long)]
        museum: String,
        #[arg(long)]
        records: PathBuf,
        #[arg(long)]
        images: PathBuf,
    },
    /// Embed a validated collection, write a new bundle version for the museum and publish it.
    Build {
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        target: TargetArgs,
        /// Refuse the build when more than this share of records is rejected.
        #[arg(long, default_value_t = 0.0)]
        max_error_ratio: f64,
        /// Write the version but leave CURRENT as it is.
        #[arg(long)]
        no_publish: bool,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Add or replace exhibits (records + their images) in the published bundle, without a full rebuild.
    Upsert {
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long)]
        no_publish: bool,
        /// Published exhibits keep what a record does not replace: their
        /// images when it names none (`"images": []`), their audio guides in the languages
        /// it does not name (an audio name that is not a file here must be
        /// the published guide's).
        #[arg(long)]
        keep_media: bool,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Delete exhibits from the published bundle, without a full rebuild.
    Delete {
        #[command(flatten)]
        target: TargetArgs,
        /// Exhibit id (repeatable).
        #[arg(long, required = true)]
        exhibit: Vec<String>,
        #[arg(long)]
        no_publish: bool,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Point the museum's CURRENT at an existing version.
    Publish {
        #[command(flatten)]
        target: TargetArgs,
        version: String,
    },
    /// Publish the version before the current one (or the one named).
    Rollback {
        #[command(flatten)]
        target: TargetArgs,
        version: Option<String>,
    },
    /// Delete old versions, keeping the newest ones and the published one.
    Gc {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long, default_value_t = 5)]
        keep: usize,
        /// A version to keep whatever its age: one a server is serving (repeatable).
        #[arg(long)]
        protect: Vec<String>,
    },
    /// Copy the published version's media (renditions, audio) to OUT/<museum>/, the layout a CDN serves
    /// under the server's `media_base_url`; files already there are skipped.
    ExportMedia {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long)]
        out: PathBuf,
    },
    /// Measure accuracy and latency on real photos (layout: ../shared/eval/README.md).
    Eval {
        /// A set: <object>/ref*, <object>/query*, _unknown/*.
        #[arg(long)]
        dataset: PathBuf,
        /// Sets whose refs are added to the index as distractors (repeatable).
        #[arg(long)]
        distractors: Vec<PathBuf>,
        /// Put each distractor set in a museum of its own and recognise across all museums.
        #[arg(long)]
        separate_museums: bool,
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// List museums and versions; published ones are marked with '*'.
    List {
        #[arg(long, env = "MUSEUM_BUNDLES")]
        bundles: PathBuf,
        /// Only this museum.
        #[arg(long)]
        museum: Option<String>,
    },
}

/// Records and images: a staged import folder, or the two given apart.
#[derive(clap::Args, Debug)]
struct SourceArgs {
    /// A folder written by `index-builder import`.
    #[arg(long, conflicts_with_all = ["records", "images"])]
    staged: Option<PathBuf>,
    /// Records: a JSON array or a CSV file.
    #[arg(long, requires = "images")]
    records: Option<PathBuf>,
    /// Folder the records' image names are relative to.
    #[arg(long)]
    images: Option<PathBuf>,
}

impl SourceArgs {
    fn load(&self, museum: &str, keep_media: bool) -> anyhow::Result<index_builder::Collection> {
        let (records, images) = match (&self.staged, &self.records, &self.images) {
            (Some(dir), _, _) => (
                index_builder::import::staged_records(dir)
                    .with_context(|| format!("{} holds no staged records", dir.display()))?,
                index_builder::import::staged_images(dir),
            ),
            (None, Some(r), Some(i)) => (r.clone(), i.clone()),
            _ => bail!("give --staged DIR, or --records FILE and --images DIR"),
        };
        Ok(match keep_media {
            true => index_builder::collection::load_change(&records, &images, museum)?,
            false => load_collection(&records, &images, museum)?,
        })
    }
}

/// Which museum's bundles.
#[derive(clap::Args, Debug)]
struct TargetArgs {
    #[arg(long)]
    museum: String,
    /// Bundle root (one folder per museum, each with versions/ and CURRENT).
    #[arg(long, env = "MUSEUM_BUNDLES")]
    bundles: PathBuf,
}

/// Output for people (progress bars on stderr, text) or for scripts and the
/// server (`--json`: one [`Event`] per line on stdout).
struct Output {
    json: bool,
    bars: indicatif::MultiProgress,
    current: std::sync::Mutex<Option<(String, indicatif::ProgressBar)>>,
}

impl Output {
    fn new(json: bool) -> Arc<Self> {
        Arc::new(Self { json, bars: indicatif::MultiProgress::new(), current: std::sync::Mutex::new(None) })
    }

    fn progress(self: &Arc<Self>) -> index_builder::Progress {
        let out = self.clone();
        index_builder::Progress::new(move |stage, done, total| out.step(stage, done, total))
    }

    fn step(&self, stage: &str, done: usize, total: usize) {
        if self.json {
            println!(
                "{}",
                Event::Progress { stage: stage.to_owned(), done: done as u64, total: total as u64 }.to_line()
            );
            return;
        }
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current.as_ref().is_none_or(|(s, _)| s != stage) {
            if let Some((_, bar)) = current.take() {
                bar.finish();
            }
            let bar = self.bars.add(indicatif::ProgressBar::new(total as u64));
            let style = indicatif::ProgressStyle::with_template("{prefix:>12} [{bar:40}] {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(stage.to_owned());
            *current = Some((stage.to_owned(), bar));
        }
        if let Some((_, bar)) = current.as_ref() {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    }

    /// Prints an event as a JSON line (`--json`) or runs `human`.
    fn event(&self, event: Event, human: impl FnOnce()) {
        if let Some((_, bar)) = self.current.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bar.finish();
        }
        if self.json {
            println!("{}", event.to_line());
        } else {
            human();
        }
    }
}

/// A failure as the person who can act on it should read it. Messages of
/// kinds other than `Internal` name no server paths (they reach museum
/// keys through the admin API); the whole chain goes to stderr regardless.
fn failure(e: &anyhow::Error) -> Failure {
    use FailureKind::*;
    let with = |kind, message: String| Failure { kind, message, issues: Vec::new() };
    // What the photo or collection got wrong is theirs; the rest is ours.
    let recognizer = |r: &recognizer::Error, context: &str| match r {
        recognizer::Error::NotPublished { .. } => with(NotFound, "nothing is published yet".into()),
        recognizer::Error::InvalidImage { .. }
        | recognizer::Error::ImageTooLarge { .. }
        | recognizer::Error::ImageTooSmall { .. } => with(Invalid, format!("{context}{r}")),
        _ => with(Internal, format!("{e:#}")),
    };
    let store = |s: &StoreError| match s {
        StoreError::NoSuchVersion(_) | StoreError::NothingPublished | StoreError::NothingOlder(_) => {
            with(NotFound, s.to_string())
        }
        StoreError::Moved { .. } | StoreError::Busy(_) => with(Conflict, s.to_string()),
        StoreError::Remote(r @ bundle_store::Error::Moved { .. }) => with(Conflict, r.to_string()),
        StoreError::Remote(r @ bundle_store::Error::NoSuchVersion { .. }) => with(NotFound, r.to_string()),
        StoreError::Bundle(r) => recognizer(r, ""),
        StoreError::Media(m @ index_builder::media::MediaError::Image { .. }) => with(Invalid, m.to_string()),
        _ => with(Internal, format!("{e:#}")),
    };
    let collection = |c: &CollectionError| match c {
        CollectionError::Format { reason, .. } => with(Invalid, format!("the records are not valid: {reason}")),
        // Text that is not UTF-8 is the records' fault; a file that cannot be read is not.
        CollectionError::Read { source, .. } if source.kind() == std::io::ErrorKind::InvalidData => {
            with(Invalid, format!("the records cannot be read as text: {source}"))
        }
        CollectionError::Read { .. } => with(Internal, format!("{e:#}")),
    };
    if let Some(b) = e.downcast_ref::<BuildError>() {
        return match b {
            BuildError::TooManyRejected { issues, .. } => {
                Failure { kind: Invalid, message: b.to_string(), issues: issues.clone() }
            }
            BuildError::Empty => with(Invalid, b.to_string()),
            BuildError::UnknownExhibit(_) => with(NotFound, b.to_string()),
            BuildError::Image { exhibit, image, source } => {
                recognizer(source, &format!("image {image} of exhibit {exhibit}: "))
            }
            BuildError::Store(s) => store(s),
            BuildError::Recognizer(r) => recognizer(r, ""),
        };
    }
    if let Some(s) = e.downcast_ref::<StoreError>() {
        return store(s);
    }
    if let Some(i) = e.downcast_ref::<ImportError>() {
        return match i {
            ImportError::Source(_) | ImportError::Zip(_) => with(Invalid, i.to_string()),
            ImportError::Collection(c) => collection(c),
            ImportError::Io { .. } => with(Internal, format!("{e:#}")),
        };
    }
    if let Some(c) = e.downcast_ref::<CollectionError>() {
        return collection(c);
    }
    with(Internal, format!("{e:#}"))
}

fn print_report(report: &index_builder::ValidationReport) {
    for v in report.records.iter().filter(|v| v.status == VerdictStatus::Rejected) {
        eprintln!("rejected record #{} ({}): {}", v.position, v.id.as_deref().unwrap_or("no id"), v.reasons.join("; "));
    }
    println!(
        "{}: {} records, {} accepted, {} rejected ({:.1}%)",
        report.museum,
        report.total,
        report.accepted,
        report.rejected,
        report.error_ratio * 100.0
    );
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let json = cli.json;
    if let Err(e) = run(cli) {
        if json {
            println!("{}", Event::Failed(failure(&e)).to_line());
        }
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let json = cli.json;
    if let Some(url) = cli.store.as_deref().filter(|u| !u.is_empty()) {
        store::use_remote(bundle_store::Remote::open(url)?);
    }
    let lock_wait = match cli.lock_wait {
        Some(s) if !(s.is_finite() && s >= 0.0) => bail!("--lock-wait takes a number of seconds, not {s}"),
        s => s.map(std::time::Duration::from_secs_f64),
    };
    let lock = |target: &TargetArgs| -> anyhow::Result<MuseumLock> {
        Ok(MuseumLock::acquire(&target.bundles, &target.museum, lock_wait)?)
    };
    match cli.command {
        Command::Import { museum, records, zip, images, iiif, out, allow_host } => {
            if out.exists() {
                bail!("{} exists already: stage each import into a new folder", out.display());
            }
            let output = Output::new(json);
            let source = index_builder::import::ImportSource { records, zip, images, iiif };
            let fetcher = index_builder::fetch::Fetcher::new(index_builder::fetch::FetchOptions {
                allow_hosts: allow_host,
                ..Default::default()
            })?;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let progress = output.progress();
            let (_, report) =
                runtime.block_on(index_builder::import::stage_import(&source, &museum, &out, &fetcher, &progress))?;
            output.event(Event::Imported(report.clone()), || print_report(&report));
        }
        Command::Validate { museum, records, images } => {
            let report = load_collection(&records, &images, &museum)?.report();
            Output::new(json).event(Event::Imported(report.clone()), || print_report(&report));
        }
        Command::Build { source, target, max_error_ratio, no_publish, model } => {
            let output = Output::new(json);
            let collection = source.load(&target.museum, false)?;
            let validation = collection.report();
            output.event(Event::Validated(validation.clone()), || print_report(&validation));
            let recognizer = model.recognizer()?;
            let options = BuildOptions {
                max_error_ratio,
                publish: !no_publish,
                progress: output.progress(),
                lock_wait,
                ..BuildOptions::default()
            };
            let report = build_bundle(&collection, &recognizer, &target.bundles, &options)?;
            output.event(Event::Built(Box::new(report.clone())), || {
                let cal = &report.manifest.calibration;
                println!(
                    "built {} for {} ({} of {} records, {} images, {:.1}s embedding, {:.1}s calibrating){}",
                    report.version,
                    report.museum,
                    report.records_accepted,
                    report.records_total,
                    report.vectors,
                    report.embed_seconds,
                    report.calibrate_seconds,
                    if report.published { ", published" } else { "" }
                );
                println!(
                    "calibration on {} simulated photos: top-1 {:.0}%, accepted and right {:.0}%, unknown accepted {:.0}% (accept score {:.3} or lead {:.3})",
                    cal.queries,
                    cal.simulated_top1 * 100.0,
                    cal.simulated_accepted * 100.0,
                    cal.simulated_unknown_accepted * 100.0,
                    cal.accept_score,
                    cal.accept_margin
                );
            });
        }
        Command::Upsert { source, target, no_publish, keep_media, model } => {
            let output = Output::new(json);
            let collection = source.load(&target.museum, keep_media)?;
            let recognizer = model.recognizer()?;
            let progress = output.progress();
            let report = index_builder::apply_changes(
                &recognizer,
                &target.bundles,
                &collection,
                &[],
                index_builder::ChangeOptions { publish: !no_publish, keep_media },
                &progress,
                lock_wait,
            )?;
            output.event(Event::Changed(report.clone()), || print_change(&report));
        }
        Command::Delete { target, exhibit, no_publish, model } => {
            let output = Output::new(json);
            let recognizer = model.recognizer()?;
            let empty = index_builder::Collection::empty(&target.museum);
            let progress = output.progress();
            let report = index_builder::apply_changes(
                &recognizer,
                &target.bundles,
                &empty,
                &exhibit,
                index_builder::ChangeOptions { publish: !no_publish, keep_media: false },
                &progress,
                lock_wait,
            )?;
            output.event(Event::Changed(report.clone()), || print_change(&report));
        }
        Command::Publish { target, version } => {
            let lock = lock(&target)?;
            let previous = store::publish(&lock, &version, lock.current()?.as_deref())?;
            let museum = target.museum;
            Output::new(json)
                .event(Event::Published { museum: museum.clone(), version: version.clone(), previous }, || {
                    println!("published {version} for {museum}")
                });
        }
        Command::Rollback { target, version } => {
            let lock = lock(&target)?;
            let previous = lock.current()?;
            let now = store::rollback(&lock, version.as_deref())?;
            let museum = target.museum;
            Output::new(json)
                .event(Event::Published { museum: museum.clone(), version: now.clone(), previous }, || {
                    println!("published {now} for {museum}")
                });
        }
        Command::Gc { target, keep, protect } => {
            if keep == 0 {
                bail!("--keep must be at least 1");
            }
            let removed = store::gc(&lock(&target)?, keep, &protect)?;
            let museum = target.museum;
            Output::new(json).event(
                Event::Collected { museum: museum.clone(), removed: removed.clone(), kept: keep },
                || {
                    for v in &removed {
                        println!("removed {v}");
                    }
                    println!("{} versions removed for {museum}", removed.len());
                },
            );
        }
        Command::ExportMedia { target, out } => {
            let root = recognizer::bundle::museum_root(&target.bundles, &target.museum)?;
            let version = recognizer::bundle::current_version(&root)?.ok_or(StoreError::NothingPublished)?;
            let dir = root.join("versions").join(&version);
            let media = recognizer::bundle::load_media(&dir)?;
            let (copied, skipped) = index_builder::media::export(&dir, &media, &target.museum, &out)?;
            let museum = target.museum;
            Output::new(json)
                .event(Event::Exported { museum: museum.clone(), version: version.clone(), copied, skipped }, || {
                    println!("{museum} {version}: {copied} media files copied, {skipped} already there")
                });
        }
        Command::List { bundles, museum } => list(&bundles, museum.as_deref(), json)?,
        Command::Eval { dataset, distractors, separate_museums, model, pipeline } => {
            let recognizer = model.recognizer_with(pipeline.settings())?;
            let report =
                index_builder::eval::evaluate(&recognizer, &dataset, &distractors, separate_museums, |done, total| {
                    if done % 50 == 0 || done == total {
                        tracing::info!(done, total, "photos recognised");
                    }
                })?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                let pct = |x: f64| format!("{:.1}%", x * 100.0);
                println!("dataset           {}", report.dataset);
                println!(
                    "catalog           {} objects, {} images (with distractors)",
                    report.catalog_objects, report.catalog_images
                );
                println!("queries           {} known, {} unknown", report.queries, report.unknowns);
                println!("top-1 (accepted)  {}", pct(report.top1));
                println!("recall@{}          {}", report.k, pct(report.recall_at_k));
                println!("wrong matches     {}", pct(report.wrong_matches));
                println!("known rejected    {}", pct(report.known_rejected));
                println!("ambiguous         {}", pct(report.ambiguous));
                println!("unknown rejected  {}", pct(report.unknown_rejected));
                println!("latency           p50 {:.0} ms, p95 {:.0} ms", report.p50_ms, report.p95_ms);
                let st = &report.stage_p50_ms;
                println!(
                    "stages (p50)      decode {:.0} ms, embed {:.0} ms, search {:.1} ms, verify {:.0} ms",
                    st.decode_ms, st.embed_ms, st.search_ms, st.verify_ms
                );
                let c = &report.calibration;
                println!(
                    "calibration       accept score {:.3} or lead {:.3}; verified at {} inliers ({} exhibits more)",
                    c.accept_score,
                    c.accept_margin,
                    c.min_inliers,
                    c.exhibit_min_inliers.len()
                );
                println!("not answered right {} photos (listed with --json)", report.misses.len());
            }
        }
    }
    Ok(())
}

fn print_change(r: &index_builder::ChangeReport) {
    println!(
        "{} for {}: {} upserted, {} deleted, {} exhibits ({:.1}s){}",
        r.version,
        r.museum,
        r.upserted.len(),
        r.deleted.len(),
        r.exhibits,
        r.seconds,
        if r.published { ", published" } else { "" }
    );
}

fn list(root: &Path, only: Option<&str>, json: bool) -> anyhow::Result<()> {
    let museums = match only {
        Some(m) => vec![m.to_owned()],
        None => bundle::list_museums(root)?,
    };
    if museums.is_empty() {
        bail!("no museums under {}", root.display());
    }
    let mut all = Vec::new();
    for museum in museums {
        let mroot = bundle::museum_root(root, &museum)?;
        let current = bundle::current_version(&mroot)?;
        let versions = bundle::list_versions(&mroot)?;
        all.push(MuseumVersions { museum, current, versions });
    }
    Output::new(json).event(Event::Listed { museums: all.clone() }, || {
        for m in &all {
            println!("{}", m.museum);
            for v in &m.versions {
                let mark = if m.current.as_deref() == Some(v.as_str()) { '*' } else { ' ' };
                println!("  {mark} {v}");
            }
        }
    });
    Ok(())
}
