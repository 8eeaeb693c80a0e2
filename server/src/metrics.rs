//! Prometheus metrics, served at `/metrics`.
//!
//! Requests are labelled by route *template* (`/api/v1/exhibits/{id}`), never
//! the raw path, so ids cannot blow up the series count. We use the
//! `prometheus` crate (the Prometheus client the TiKV team maintains): plain
//! registries and text encoding, no global state or macros.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub request_seconds: HistogramVec,
    /// Recognition stages: decode, embed, search, verify, total.
    pub stage_seconds: HistogramVec,
    /// Recognitions running or waiting for a session.
    pub queue_depth: IntGauge,
    /// Result cache lookups by outcome (hit, miss).
    pub cache: IntCounterVec,
    /// Recognition outcomes (matched, ambiguous, no_match).
    pub outcomes: IntCounterVec,
}

const LATENCY_BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0];

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("museum".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route template and status"),
            &["method", "route", "status"],
        )?;
        let request_seconds = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency by route template")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route"],
        )?;
        let stage_seconds = HistogramVec::new(
            HistogramOpts::new("recognition_stage_seconds", "Recognition latency by stage (inference = embed)")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["stage"],
        )?;
        let queue_depth = IntGauge::new("recognition_queue_depth", "Recognitions running or waiting")?;
        let cache = IntCounterVec::new(Opts::new("cache_lookups_total", "Result cache lookups"), &["result"])?;
        let outcomes =
            IntCounterVec::new(Opts::new("recognitions_total", "Recognition answers by status"), &["status"])?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(request_seconds.clone()))?;
        registry.register(Box::new(stage_seconds.clone()))?;
        registry.register(Box::new(queue_depth.clone()))?;
        registry.register(Box::new(cache.clone()))?;
        registry.register(Box::new(outcomes.clone()))?;
        Ok(Self { registry, requests, request_seconds, stage_seconds, queue_depth, cache, outcomes })
    }

    pub fn observe_stages(&self, t: &recognizer::recognize::Timings) {
        for (stage, ms) in
            [("decode", t.decode_ms), ("embed", t.embed_ms), ("search", t.search_ms), ("verify", t.verify_ms)]
        {
            self.stage_seconds.with_label_values(&[stage]).observe(ms / 1000.0);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "encoding metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Times every request and counts it under its route template.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().as_str().to_owned();
    let start = std::time::Instant::now();
    let res = next.call(req).await?;
    if let Some(m) = metrics {
        let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".into());
        let status = res.status().as_u16().to_string();
        m.requests.with_label_values(&[method.as_str(), route.as_str(), status.as_str()]).inc();
        m.request_seconds.with_label_values(&[method.as_str(), route.as_str()]).observe(start.elapsed().as_secs_f64());
    }
    Ok(res)
}
