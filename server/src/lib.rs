//! The visitor-facing HTTP service.
//!
//! Entry point: [`startup::Application::build`] binds a listener (port 0 in
//! tests) and returns a server to run. Layers: `configuration` (compiled-in
//! defaults < config file < `APP__SECTION__KEY` environment), `routes/*`
//! (one module per resource), `error` (the one table of error codes),
//! `cache` (Redis, optional at run time), `sessions`/`visitors`/`ratelimit`
//! (Redis-backed), `wechat` (the WeChat API client, the access-token keeper
//! and a fake WeChat server for development and tests), `metrics`.
//!
//! `admin` is the museum admin API (tenants, scoped keys, imports, jobs that
//! run `index-builder`, publishing, analytics).
//!
//! Invariants: the server never writes bundles (admin jobs run the
//! `index-builder` binary, the only writer); CPU work (decode, inference,
//! search) runs on blocking threads behind a bounded queue, never on the
//! async workers; Redis being down degrades caching, never recognition.

pub mod admin;
pub mod cache;
pub mod card;
pub mod configuration;
pub mod error;
pub mod metrics;
pub mod ratelimit;
pub mod redis_lock;
pub mod redis_store;
pub mod routes;
pub mod sessions;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod visitors;
pub mod wechat;
