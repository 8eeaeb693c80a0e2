//! The museum admin API: tenants, scoped keys, imports, builds, publishing,
//! incremental changes, analytics.
//!
//! Every route under `/api/v1/admin` takes `Authorization: Bearer <key>`:
//! the operator key (configuration) reaches everything; a museum key reaches
//! only its own museum's routes (checked before anything about the museum is
//! read, so a key cannot even learn whether another museum exists). One
//! middleware ([`scope`]) decides that for every admin path before routing;
//! handlers take its decision as an extractor.
//! Bundle-changing work runs as `index-builder` jobs ([`jobs`]); this module
//! writes only museum profiles and uploaded inputs under `admin.data_dir`.

pub mod analytics;
pub mod audit;
pub mod console;
pub mod jobs;
pub mod registry;
pub mod routes;
pub mod scope;
pub mod uri;

pub use analytics::Analytics;
pub use jobs::Jobs;
pub use registry::{Principal, Registry};
