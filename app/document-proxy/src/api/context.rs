//! Per-request facts shared between the handler and the access log, carried in a task-local so
//! that error responses rendered deep inside poem, and every log line (`telemetry::RequestJson`),
//! know their request id.

use document_validate::DocumentType;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct RequestFacts {
    pub document_type: Option<DocumentType>,
    pub bytes: usize,
    pub upstream_attempts: u32,
}

#[derive(Debug)]
pub struct RequestContext {
    pub request_id: String,
    pub facts: Mutex<RequestFacts>,
}

tokio::task_local! {
    static CURRENT: std::sync::Arc<RequestContext>;
}

/// Runs `future` with `context` as the current request.
pub async fn scope<F: Future>(context: std::sync::Arc<RequestContext>, future: F) -> F::Output {
    CURRENT.scope(context, future).await
}

pub fn request_id() -> Option<String> {
    CURRENT.try_with(|c| c.request_id.clone()).ok()
}

/// Records facts about the current request for its access line; a no-op outside a request.
pub fn record(update: impl FnOnce(&mut RequestFacts)) {
    let _ = CURRENT.try_with(|c| update(&mut c.facts.lock().unwrap_or_else(|e| e.into_inner())));
}
