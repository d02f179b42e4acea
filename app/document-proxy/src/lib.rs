//! `document-proxy`: answers `GET /<id>` with a document from the `dummy-pdf-or-png` upstream,
//! validated structurally so that a corrupt document is never passed on, and fails safe under a
//! struggling upstream (retries by failure class within a budget, adaptive throttling and
//! concurrency), load (shedding) and shutdown (draining).

pub mod api;
pub mod config;
pub mod server;
pub mod shutdown;
pub mod startup;
pub mod telemetry;
pub mod upstream;
pub use document_validate as validate;

pub use config::Config;
pub use startup::{Application, StartError};
