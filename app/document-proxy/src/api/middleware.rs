//! The one middleware every request passes: request id, limits on what a client may send, the
//! access line, request metrics, and the conversion of every error into problem+json.

use super::context::{self, RequestContext, RequestFacts};
use super::problem::ApiError;
use super::routes::route_of;
use crate::telemetry::Metrics;
use poem::http::{HeaderValue, header};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub const REQUEST_ID: &str = "x-request-id";
/// Total size of request header names and values accepted.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone)]
pub struct Observe {
    pub metrics: Metrics,
}

impl<E: Endpoint> Middleware<E> for Observe {
    type Output = ObserveEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        ObserveEndpoint {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Debug)]
pub struct ObserveEndpoint<E> {
    inner: E,
    metrics: Metrics,
}

/// A client's id if it is short and printable (it goes into every log line), else a new one.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// What a client may send: no body, bounded headers.
fn check_limits(req: &Request) -> Result<(), ApiError> {
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Err(ApiError::HeadersTooLarge(MAX_HEADER_BYTES));
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > 0) || req.headers().contains_key(header::TRANSFER_ENCODING)
    {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(())
}

impl<E: Endpoint> Endpoint for ObserveEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let started = Instant::now();
        let id = request_id(&req);
        let route = route_of(req.uri().path());
        let method = req.method().clone();
        let header = HeaderValue::from_str(&id).ok();
        // Every line logged in this scope carries the id (see `telemetry::RequestJson`), whatever
        // LOG_LEVEL filters out.
        let context = Arc::new(RequestContext {
            request_id: id,
            facts: Mutex::new(RequestFacts::default()),
        });
        let in_flight = self.metrics.in_flight();
        let response = context::scope(Arc::clone(&context), async {
            let outcome = match check_limits(&req) {
                Ok(()) => self.inner.call(req).await.map(IntoResponse::into_response),
                Err(err) => Err(err.into()),
            };
            let mut response =
                outcome.unwrap_or_else(|err| ApiError::from_poem(&err).into_response());
            if let Some(value) = header {
                response.headers_mut().insert(REQUEST_ID, value);
            }
            let elapsed = started.elapsed();
            let status = response.status().as_u16();
            self.metrics
                .request_finished(route, method.as_str(), status, elapsed);
            let facts = context.facts.lock().unwrap_or_else(|e| e.into_inner());
            tracing::info!(
                method = %method,
                route,
                status,
                latency_ms = elapsed.as_secs_f64() * 1000.0,
                document_type = facts.document_type.map(|t| t.label()),
                bytes = facts.bytes,
                upstream_attempts = facts.upstream_attempts,
                "access"
            );
            drop(facts);
            response
        })
        .await;
        drop(in_flight);
        Ok(response)
    }
}
