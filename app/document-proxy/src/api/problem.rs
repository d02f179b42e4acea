//! The HTTP boundary's one error type and its one mapping to RFC 9457 `application/problem+json`.
//! Client-facing details are generic on purpose: upstream addresses and causes go to the logs
//! (with the same request id), never to the client.

use super::context;
use crate::upstream::UpstreamError;
use poem::http::{HeaderValue, StatusCode, header};
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object};
use std::time::Duration;

pub const PROBLEM_JSON: &str = "application/problem+json";
/// Every route answers these methods only.
pub const ALLOWED_METHODS: &str = "GET, HEAD";

/// RFC 9457 problem details, plus the request id to find the logs.
#[derive(Debug, Clone, Object)]
pub struct Problem {
    /// A URI reference naming the problem type; `about:blank` means "see the status".
    #[oai(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The `X-Request-Id` of this request: the key to its log lines.
    pub request_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("no such resource")]
    NotFound,
    #[error("method not allowed; use GET or HEAD")]
    MethodNotAllowed,
    #[error("request bodies are not accepted")]
    PayloadTooLarge,
    #[error("request headers exceed {0} bytes")]
    HeadersTooLarge(usize),
    #[error("the upstream did not provide a sound document")]
    BadGateway,
    #[error("{detail}")]
    Unavailable {
        detail: &'static str,
        retry_after: Duration,
    },
    #[error("the upstream did not provide a sound document in time")]
    GatewayTimeout,
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// Every status this service answers with a problem, for the OpenAPI document.
    const DOCUMENTED: [(u16, &'static str); 9] = [
        (400, "The id is not a positive integer."),
        (404, "No such path."),
        (405, "Only GET and HEAD are allowed; see the Allow header."),
        (413, "The request carried a body."),
        (431, "The request headers are too large."),
        (500, "Unexpected internal error."),
        (
            502,
            "The upstream sent no sound document (corrupt, failed or too large) within the attempts allowed.",
        ),
        (
            503,
            "Overloaded, shutting down, or the upstream is overloaded and attempts are throttled; see Retry-After.",
        ),
        (
            504,
            "The upstream did not deliver a sound document before the deadline.",
        ),
    ];

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::BadGateway => StatusCode::BAD_GATEWAY,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Maps any error poem or poem-openapi raised (routing, parameter parsing) to ours.
    pub fn from_poem(err: &poem::Error) -> Self {
        if let Some(ours) = err.downcast_ref::<ApiError>() {
            return ours.clone();
        }
        match err.status() {
            StatusCode::NOT_FOUND => Self::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            status if status.is_client_error() => {
                Self::BadRequest(format!("invalid request: {err}"))
            }
            _ => Self::Internal,
        }
    }
}

impl From<UpstreamError> for ApiError {
    fn from(err: UpstreamError) -> Self {
        match err {
            UpstreamError::Throttled { retry_after } => Self::Unavailable {
                detail: "the upstream is overloaded; attempts are refused locally until it recovers",
                retry_after,
            },
            UpstreamError::Failed { .. } => Self::BadGateway,
            UpstreamError::Deadline { .. } => Self::GatewayTimeout,
        }
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        ApiError::status(self)
    }

    fn as_response(&self) -> Response {
        let status = self.status();
        let problem = Problem {
            problem_type: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.to_string(),
            request_id: context::request_id().unwrap_or_default(),
        };
        let body =
            serde_json::to_vec(&poem_openapi::types::ToJSON::to_json(&problem)).unwrap_or_default();
        let mut response = Response::builder()
            .status(status)
            .content_type(PROBLEM_JSON)
            .header(header::CACHE_CONTROL, "no-store")
            .body(body);
        match self {
            Self::MethodNotAllowed => {
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
            }
            Self::Unavailable { retry_after, .. } => {
                // Whole seconds, rounded up, at least one: clients must not come back at once.
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            }
            _ => {}
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        poem::error::ResponseError::as_response(&self)
    }
}

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: Self::DOCUMENTED
                .iter()
                .map(|(status, description)| MetaResponse {
                    description,
                    status: Some(*status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: PROBLEM_JSON,
                        schema: Problem::schema_ref(),
                    }],
                    headers: vec![],
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}
