//! The URL shape in one place: the router, the `route` label of every request and the shortcut
//! for `GET /{id}` are all derived from this table.
//!
//! The API's operations also name their paths in their `#[oai(path)]` attributes, because
//! poem-openapi accepts only literals there; the test `the_table_is_what_the_api_declares` fails
//! when those and this table differ.

use super::DocumentApi;
use poem::Route;
use poem::http::Method;
use poem_openapi::OpenApiService;

pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
pub const METRICS: &str = "/metrics";
/// A document: one path segment, the id. Every single-segment path that is not another route is
/// this route (a malformed id gets its 400 from it).
pub const DOCUMENT: &str = "/{id}";
pub const SWAGGER_UI: &str = "/docs";
pub const SPEC_JSON: &str = "/openapi.json";
pub const SPEC_YAML: &str = "/openapi.yaml";
/// The `route` label of a path no route serves.
pub const UNMATCHED: &str = "unmatched";

/// The routes with a fixed path: their path is their label.
const FIXED: [&str; 6] = [HEALTHZ, READYZ, METRICS, SWAGGER_UI, SPEC_JSON, SPEC_YAML];

/// The router: the documentation routes, then the OpenAPI service with the operations.
pub fn router(service: OpenApiService<DocumentApi, ()>) -> Route {
    Route::new()
        .nest(SWAGGER_UI, service.swagger_ui())
        .at(SPEC_JSON, service.spec_endpoint())
        .at(SPEC_YAML, service.spec_endpoint_yaml())
        .nest("/", service)
}

/// The route pattern for a path, the only values the `route` label takes: a fixed route by its
/// path, any other single segment the document route, anything else unmatched.
pub fn route_of(path: &str) -> &'static str {
    if let Some(route) = FIXED.iter().find(|r| **r == path) {
        return route;
    }
    if document_segment(path).is_some() {
        DOCUMENT
    } else {
        UNMATCHED
    }
}

/// The id of a `GET` of the document route that its operation would accept as it is: digits only,
/// no leading zero, at least 1, within `u64`. Anything else is left to the router.
pub fn document_id(method: &Method, path: &str) -> Option<u64> {
    let digits = document_segment(path)?;
    let canonical = digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
    if *method != Method::GET || !canonical {
        return None;
    }
    digits.parse().ok()
}

/// The segment of a path with exactly one non-empty segment.
fn document_segment(path: &str) -> Option<&str> {
    path.strip_prefix('/')
        .filter(|rest| !rest.is_empty() && !rest.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem_openapi::OpenApi;

    #[test]
    fn the_table_is_what_the_api_declares() {
        let mut declared: Vec<String> = DocumentApi::meta()
            .into_iter()
            .flat_map(|api| api.paths)
            .map(|path| path.path)
            .collect();
        declared.sort();
        let mut table = vec![HEALTHZ, READYZ, METRICS, DOCUMENT];
        table.sort();
        assert_eq!(declared, table);
    }

    #[test]
    fn routes_are_patterns_never_raw_paths() {
        assert_eq!(route_of("/healthz"), "/healthz");
        assert_eq!(route_of("/docs"), "/docs");
        assert_eq!(route_of("/529852"), "/{id}");
        assert_eq!(route_of("/not-a-number"), "/{id}");
        assert_eq!(route_of("/a/b"), "unmatched");
        assert_eq!(route_of("/docs/x"), "unmatched");
        assert_eq!(route_of("/"), "unmatched");
    }

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
