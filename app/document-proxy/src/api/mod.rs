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
        let etag = format!("\"{:x}-{crc32:08x}\"", body.len());
        let disposition = format!("inline; filename=\"{}.{}\"", self.id, kind.extension());
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
            (header::ETAG, etag),
            (header::CONTENT_DISPOSITION, disposition),
        ] {
            if let Ok(value) = HeaderValue::from_str(&value) {
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
}
