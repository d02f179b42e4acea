//! The document policy around the transport: how many attempts run at once (`limit`), whether an
//! attempt may be made at all (`throttle`), how many retries the upstream may see (`budget`), and
//! the verdicts on what came back (`verdicts`, remembered in `cache`).

pub mod budget;
pub mod cache;
pub mod limit;
pub mod throttle;
pub mod verdicts;
