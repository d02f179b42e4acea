//! The HTTP API, described by poem-openapi so the spec at `/openapi.json` is generated from the
//! code that serves it.

pub mod context;
pub mod middleware;
pub mod problem;
pub mod routes;
pub mod shortcut;

use crate::server::ServingThread;
use crate::shutdown::ShutdownSignal;
use crate::telemetry::Metrics;
use crate::upstream::{Document, Upstream};
use bytes::Bytes;
use document_validate::DocumentType;
use poem::http::{Extensions, HeaderMap, HeaderValue, StatusCode, Version, header};
use poem::web::Data;
use poem::{IntoResponse, Response, ResponseParts};
use poem_openapi::param::Path;
use poem_openapi::payload::PlainText;
use poem_openapi::registry::{
    MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::{ApiResponse, OpenApi};
use problem::ApiError;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Headers on a document response, the request id included.
const RESPONSE_HEADERS: usize = 8;

/// How long a shed request is told to wait.
const SHED_RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct DocumentApi {
    pub upstream: Arc<Upstream>,
    pub in_flight: Arc<Semaphore>,
    pub request_timeout: Duration,
    pub metrics: Metrics,
    pub shutdown: ShutdownSignal,
}

/// A validated document; its Content-Type comes from its own bytes, never from the upstream.
#[derive(Debug)]
pub struct DocumentResponse {
    id: u64,
    document: Document,
}

#[derive(Debug, ApiResponse)]
pub enum Health {
    /// Serving.
    #[oai(status = 200)]
    Ok(PlainText<&'static str>),
    /// Shutting down: take this instance out of rotation.
    #[oai(status = 503)]
    Unavailable(PlainText<&'static str>),
}

#[OpenApi]
impl DocumentApi {
    /// Liveness: the process answers. Never depends on the upstream, so an upstream outage can
    /// never make Kubernetes restart healthy pods.
    #[oai(path = "/healthz", method = "get")]
    async fn healthz(&self) -> PlainText<&'static str> {
        PlainText("ok\n")
    }

    /// Readiness: 503 as soon as shutdown starts, so traffic drains before the process stops.
    /// It does not follow the upstream on purpose: the upstream is shared by every replica, so
    /// taking all of them out of rotation would turn the throttle's fast, explained 503s (with
    /// Retry-After) into connection errors, and would not help the upstream recover.
    #[oai(path = "/readyz", method = "get")]
    async fn readyz(&self) -> Health {
        if self.shutdown.is_triggered() {
            Health::Unavailable(PlainText("shutting down\n"))
        } else {
            Health::Ok(PlainText("ready\n"))
        }
    }

    /// Prometheus text exposition.
    #[oai(path = "/metrics", method = "get")]
    async fn metrics(&self) -> PlainText<String> {
        PlainText(self.metrics.render())
    }

    /// A document (PDF or PNG) for any positive integer id. Only documents that pass structural
    /// validation are ever sent; a corrupt upstream answer is fetched again within the deadline.
    #[oai(path = "/:id", method = "get")]
    pub async fn document(
        &self,
        thread: Data<&ServingThread>,
        /// Any positive integer.
        #[oai(validator(minimum(value = "1")))]
        id: Path<u64>,
    ) -> Result<DocumentResponse, ApiError> {
        let Ok(_permit) = self.in_flight.try_acquire() else {
            self.metrics.shed();
            return Err(ApiError::Unavailable {
                detail: "too many requests in flight",
                retry_after: SHED_RETRY_AFTER,
            });
        };
        let deadline = Instant::now() + self.request_timeout;
        let fetched =
            tokio::time::timeout_at(deadline, self.upstream.fetch(*thread.0, id.0, deadline)).await;
        let document = match fetched {
            Ok(Ok(document)) => document,
            Ok(Err(err)) => {
                context::record(|facts| facts.upstream_attempts = err.attempts());
                return Err(err.into());
            }
            Err(_) => return Err(ApiError::GatewayTimeout),
        };
        context::record(|facts| {
            facts.upstream_attempts = document.attempts;
            facts.document_type = Some(document.kind);
            facts.bytes = document.body.len();
        });
        self.metrics.document_served(document.kind.label());
        Ok(DocumentResponse { id: id.0, document })
    }
}

impl IntoResponse for DocumentResponse {
    fn into_response(self) -> Response {
        let Document {
            body, kind, crc32, ..
        } = self.document;
        // Sized for every header here and the request id added later: growing a map step by step
        // showed up among the allocations per document in profiles.
        let mut headers = HeaderMap::with_capacity(RESPONSE_HEADERS);
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind.mime()));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        // Every fetch may yield a different document: nothing may be reused.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("none"));
        for (name, value) in [
            (header::ETAG, etag(body.len(), crc32)),
            (header::CONTENT_DISPOSITION, disposition(self.id, kind)),
        ] {
            if let Ok(value) = HeaderValue::from_maybe_shared(Bytes::from(value)) {
                headers.insert(name, value);
            }
        }
        let parts = ResponseParts {
            status: StatusCode::OK,
            version: Version::default(),
            headers,
            extensions: Extensions::default(),
        };
        Response::from_parts(parts, body.into())
    }
}

/// `"<length in hex>-<CRC-32 in 8 hex digits>"`: a strong ETag of these exact bytes.
///
/// This and `disposition` are written byte by byte into a buffer that becomes the header value
/// without a copy: with `format!` (padding, a growing String, a copy into the header) the two took
/// 1.9% of the service's CPU under `scripts/bench`'s real mix (`perf record`, 32 connections).
fn etag(length: usize, crc32: u32) -> Vec<u8> {
    let mut length_hex = [0; 16];
    let mut crc32_hex = [0; 8];
    // Infallible: each buffer is twice its input's length.
    let _ = hex::encode_to_slice((length as u64).to_be_bytes(), &mut length_hex);
    let _ = hex::encode_to_slice(crc32.to_be_bytes(), &mut crc32_hex);
    let leading_zeros = length_hex[..15]
        .iter()
        .take_while(|&&digit| digit == b'0')
        .count();
    let length_hex = &length_hex[leading_zeros..];
    // Exact: `Bytes::from` a full Vec takes its buffer as it is, with no further allocation.
    let mut value = Vec::with_capacity(length_hex.len() + crc32_hex.len() + 3);
    value.push(b'"');
    value.extend_from_slice(length_hex);
    value.push(b'-');
    value.extend_from_slice(&crc32_hex);
    value.push(b'"');
    value
}

/// `inline; filename="<id>.<extension>"`.
fn disposition(id: u64, kind: DocumentType) -> Vec<u8> {
    const PREFIX: &[u8] = b"inline; filename=\"";
    let mut digits = itoa::Buffer::new();
    let id = digits.format(id).as_bytes();
    let extension = kind.extension().as_bytes();
    let mut value = Vec::with_capacity(PREFIX.len() + id.len() + extension.len() + 2);
    value.extend_from_slice(PREFIX);
    value.extend_from_slice(id);
    value.push(b'.');
    value.extend_from_slice(extension);
    value.push(b'"');
    value
}

impl ApiResponse for DocumentResponse {
    fn meta() -> MetaResponses {
        let string = || MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")));
        let header = |name: &str, description: &str| MetaHeader {
            name: name.to_owned(),
            description: Some(description.to_owned()),
            required: true,
            deprecated: false,
            schema: string(),
        };
        let binary =
            || MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "binary")));
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The document. Content-Type is decided from the validated bytes.",
                status: Some(200),
                status_range: None,
                content: vec![
                    MetaMediaType {
                        content_type: "application/pdf",
                        schema: binary(),
                    },
                    MetaMediaType {
                        content_type: "image/png",
                        schema: binary(),
                    },
                ],
                headers: vec![
                    header("Content-Length", "Size of the document in bytes."),
                    header("ETag", "Strong validator of these exact bytes."),
                    header(
                        "Content-Disposition",
                        "inline, with a file name from the id and the type.",
                    ),
                    header("X-Content-Type-Options", "Always nosniff."),
                    header(
                        "X-Request-Id",
                        "The request id (taken from the request or generated).",
                    ),
                ],
            }],
        }
    }

    fn register(_registry: &mut Registry) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::shutdown::Shutdown;
    use poem::http::Uri;
    use poem::{Endpoint, IntoEndpoint, Request};
    use poem_openapi::OpenApiService;

    #[tokio::test]
    async fn readiness_turns_503_when_shutdown_starts_and_liveness_stays_200() {
        let config = Config::default();
        let metrics = Metrics::new();
        let unreachable = "http://127.0.0.1:9".parse().expect("url");
        let upstream =
            Upstream::new(config.upstream(unreachable), 1, metrics.clone()).expect("client");
        let (shutdown, signal) = Shutdown::new();
        let api = DocumentApi {
            upstream: Arc::new(upstream),
            in_flight: Arc::new(Semaphore::new(1)),
            request_timeout: config.server().request_timeout,
            metrics,
            shutdown: signal,
        };
        let endpoint = OpenApiService::new(api, "test", "1").into_endpoint();
        let status = async |path: &'static str| {
            let request = Request::builder().uri(Uri::from_static(path)).finish();
            endpoint.get_response(request).await.status()
        };
        assert_eq!(status("/readyz").await, StatusCode::OK);
        shutdown.trigger();
        assert_eq!(status("/readyz").await, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status("/healthz").await, StatusCode::OK);
    }

    #[test]
    fn header_values_are_what_format_would_write() {
        for (length, crc32) in [
            (0, 0),
            (1, 0xdead_beef),
            (0x1_0000, 7),
            (usize::MAX, u32::MAX),
        ] {
            assert_eq!(
                etag(length, crc32),
                format!("\"{length:x}-{crc32:08x}\"").into_bytes()
            );
        }
        for (id, kind) in [(0, DocumentType::Png), (u64::MAX, DocumentType::Pdf)] {
            assert_eq!(
                disposition(id, kind),
                format!("inline; filename=\"{id}.{}\"", kind.extension()).into_bytes()
            );
        }
    }
}
