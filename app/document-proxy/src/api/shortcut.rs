//! `GET /{id}` with a well-formed id goes straight to the document handler; everything else
//! (other routes, HEAD, malformed ids and their 400s) goes through poem's router as before. The
//! operation is still the one the OpenAPI document describes, and the middleware wraps both ways.
//!
//! Why: the router's layers for this one route (the `/` nest rewriting the URI, the OpenAPI
//! service's own router and query extraction, a boxed future at each step) cost about 10 µs of
//! user CPU per document, a sixth of the service's (docs/benchmarks.md).

use super::DocumentApi;
use crate::server::ServingThread;
use poem::http::Method;
use poem::web::Data;
use poem::{Endpoint, IntoResponse, Request, Response, Result};
use poem_openapi::param::Path;

#[derive(Debug)]
pub struct DocumentShortcut<E> {
    pub api: DocumentApi,
    pub router: E,
}

impl<E: Endpoint> Endpoint for DocumentShortcut<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        match document_id(req.method(), req.uri().path()) {
            Some(id) => Ok(
                match self.api.document(Data(&thread(&req)), Path(id)).await {
                    Ok(document) => document.into_response(),
                    Err(err) => err.into_response(),
                },
            ),
            None => self.router.call(req).await.map(IntoResponse::into_response),
        }
    }
}

/// The serving thread `server` put in the request's extensions (0 outside `server`).
fn thread(req: &Request) -> ServingThread {
    req.extensions()
        .get::<ServingThread>()
        .copied()
        .unwrap_or_default()
}

/// The id of a `GET /{id}` that the OpenAPI route would accept as it is: digits only, no leading
/// zero, at least 1, within `u64`. Anything else is left to the router.
fn document_id(method: &Method, path: &str) -> Option<u64> {
    let digits = path.strip_prefix('/')?;
    let canonical = digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
    if *method != Method::GET || !canonical {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::document_id;
    use poem::http::Method;

    #[test]
    fn only_a_get_of_a_canonical_positive_id_takes_the_shortcut() {
        assert_eq!(document_id(&Method::GET, "/529852"), Some(529_852));
        assert_eq!(
            document_id(&Method::GET, "/18446744073709551615"),
            Some(u64::MAX)
        );
        for path in [
            "/",
            "/0",
            "/007",
            "/-1",
            "/+1",
            "/1.0",
            "/abc",
            "/1/2",
            "/18446744073709551616",
            "/healthz",
        ] {
            assert_eq!(document_id(&Method::GET, path), None, "{path}");
        }
        assert_eq!(document_id(&Method::HEAD, "/1"), None);
    }
}
