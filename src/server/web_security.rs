//! What browsers are checked against and told.
//!
//! A browser sends a user's connection along with whatever page asks for it,
//! so a page on another site must not be able to open a STOMP WebSocket as
//! that user or read the API's answers: only the page's own origin and the
//! origins listed in `server.allowed_origins` may. Clients that are not
//! browsers send no `Origin` and are not affected. The response headers keep
//! the web client from being framed, sniffed, or made to run script that did
//! not come from Herald itself.

use std::time::Duration;

use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{HeaderMap, Method};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use url::Url;

/// The web client loads its script, styles, fonts and pictures from Herald
/// only and talks to Herald only; user pictures may be `blob:` previews of an
/// upload in progress. No inline script or style is allowed, so text that
/// slipped into the page as HTML still could not run.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: blob:; font-src 'self' data:; \
     media-src 'self' blob:; connect-src 'self'; manifest-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'";

/// Origins allowed besides a page's own, from `server.allowed_origins`.
#[derive(Clone, Debug, Default)]
pub struct Origins {
    any: bool,
    /// Each as a browser serializes it: `scheme://host[:port]`, lower case,
    /// default port left out.
    listed: Vec<String>,
}

impl Origins {
    /// Reads the configured list; `"*"` allows every origin.
    pub fn parse(configured: &[String]) -> Result<Origins, String> {
        let mut origins = Origins::default();
        for entry in configured {
            if entry.trim() == "*" {
                origins.any = true;
                continue;
            }
            let url = Url::parse(entry.trim()).map_err(|error| {
                format!("server.allowed_origins: {entry:?} is not a URL ({error})")
            })?;
            let tuple = url.origin();
            if !tuple.is_tuple() || !matches!(url.scheme(), "http" | "https") {
                return Err(format!(
                    "server.allowed_origins: {entry:?} is not an http(s) origin like https://chat.example.com"
                ));
            }
            if !(url.path() == "/" || url.path().is_empty()) || url.query().is_some() {
                return Err(format!(
                    "server.allowed_origins: {entry:?} has a path; an origin is scheme://host[:port]"
                ));
            }
            origins.listed.push(tuple.ascii_serialization());
        }
        Ok(origins)
    }

    /// Whether a request with these headers may proceed: no `Origin` (not a
    /// browser), the page's own origin (its host and port are the `Host`
    /// it asked), or a listed one.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        if self.any {
            return true;
        }
        let Some(origin) = origin.to_str().ok().and_then(|o| Url::parse(o).ok()) else {
            return false;
        };
        if !origin.origin().is_tuple() {
            return false;
        }
        let serialized = origin.origin().ascii_serialization();
        if self.listed.contains(&serialized) {
            return true;
        }
        let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
            return false;
        };
        match Url::parse(&format!("{}://{host}", origin.scheme())) {
            Ok(asked) => {
                asked.host_str() == origin.host_str()
                    && asked.port_or_known_default() == origin.port_or_known_default()
            }
            Err(_) => false,
        }
    }

    /// CORS for the API: the listed origins may call it from their pages
    /// with a bearer token. Without a list the API answers its own origin
    /// only, which needs no CORS at all.
    pub fn cors(&self) -> Option<CorsLayer> {
        let allow = if self.any {
            AllowOrigin::any()
        } else if self.listed.is_empty() {
            return None;
        } else {
            AllowOrigin::list(
                self.listed
                    .iter()
                    .filter_map(|origin| HeaderValue::from_str(origin).ok()),
            )
        };
        Some(
            CorsLayer::new()
                .allow_origin(allow)
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                ])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                .max_age(Duration::from_secs(600)),
        )
    }
}

/// Sets the security headers on every response that has not set its own
/// (a downloaded upload carries a stricter policy of its own).
pub fn with_security_headers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    let headers: [(HeaderName, &'static str); 5] = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    headers.into_iter().fold(router, |router, (name, value)| {
        router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        headers
    }

    #[test]
    fn a_page_may_always_reach_its_own_origin() {
        let none = Origins::parse(&[]).unwrap();
        assert!(none.allows(&headers(None, "127.0.0.1:15674")));
        assert!(none.allows(&headers(Some("http://127.0.0.1:15674"), "127.0.0.1:15674")));
        assert!(none.allows(&headers(
            Some("https://chat.example.com"),
            "chat.example.com"
        )));
        assert!(none.allows(&headers(
            Some("https://chat.example.com"),
            "chat.example.com:443"
        )));
        assert!(!none.allows(&headers(
            Some("http://chat.example.com"),
            "chat.example.com:443"
        )));
        assert!(!none.allows(&headers(Some("http://evil.example"), "127.0.0.1:15674")));
        assert!(!none.allows(&headers(Some("http://127.0.0.1:8080"), "127.0.0.1:15674")));
        assert!(!none.allows(&headers(Some("null"), "127.0.0.1:15674")));
    }

    #[test]
    fn listed_origins_are_compared_as_browsers_serialize_them() {
        let origins = Origins::parse(&["HTTPS://App.Example.com:443/".into()]).unwrap();
        assert!(origins.allows(&headers(Some("https://app.example.com"), "api.example.com")));
        assert!(!origins.allows(&headers(
            Some("https://app.example.com:8443"),
            "api.example.com"
        )));
        assert!(origins.cors().is_some());
        assert!(Origins::parse(&[]).unwrap().cors().is_none());
        let any = Origins::parse(&["*".into()]).unwrap();
        assert!(any.allows(&headers(Some("http://anything.example"), "x")));
    }

    #[test]
    fn entries_that_are_not_origins_are_refused() {
        for bad in [
            "chat.example.com",
            "https://x.example/app",
            "ftp://x.example",
            "file:///tmp",
        ] {
            assert!(Origins::parse(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
