//! `GET /{id}` with a well-formed id goes straight to the document handler; everything else
//! (other routes, HEAD, malformed ids and their 400s) goes through poem's router as before. The
//! operation is still the one the OpenAPI document describes, and the middleware wraps both ways.
//!
//! Why: the router's layers for this one route (the `/` nest rewriting the URI, the OpenAPI
//! service's own router and query extraction, a boxed future at each step) cost about a sixth of
//! the service's user CPU per document (docs/benchmarks.md, "The hot path").

use super::DocumentApi;
use super::routes::document_id;
use crate::server::ServingThread;
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
