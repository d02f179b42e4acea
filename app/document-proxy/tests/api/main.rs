//! The service's integration tests: one binary, each test starting its own service on port 0 in
//! front of its own stand-in upstream (nextest runs every test in its own process).

mod bombs;
mod documents;
mod faults;
mod helpers;
mod http_errors;
mod lifecycle;
mod observability;
mod resilience;
