//! Stand-in for the `dummy-pdf-or-png` upstream: the same contract as the real one (any GET on
//! any path, PNG 50%, PDF 40%, corrupt PDF 10%), its own generated documents, and fault injection
//! for tests and chaos runs. Local runs, the tests, the dev cluster and the load tests use it.

pub mod documents;
pub mod faults;
mod server;

pub use faults::{Faults, SettingError};
pub use server::{Config, OVERSIZE_BYTES, StandIn};
