//! API Gateway's CORS for HTTP APIs, as the template configures it (`CorsConfiguration`): a
//! preflight from an allowed origin is answered by the gateway itself, before any route, and
//! every answer to an allowed origin carries `Access-Control-Allow-Origin`. A request from any
//! other origin gets no CORS headers, so the browser refuses it; the function never sees a
//! preflight. The values are the template's (tests/e2e/console.rs compares them).

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

pub const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE";
pub const ALLOW_HEADERS: &str = "authorization, content-type, idempotency-key";
pub const EXPOSE_HEADERS: &str = "location";
pub const MAX_AGE_SECONDS: u32 = 600;

#[derive(Clone, Debug, Default)]
pub struct Cors {
    /// Exact origins (`scheme://host:port`), as API Gateway compares them.
    pub allow_origins: Vec<String>,
}

impl Cors {
    fn allowed<'a>(&self, origin: Option<&'a HeaderValue>) -> Option<&'a HeaderValue> {
        let origin = origin?;
        let text = origin.to_str().ok()?;
        self.allow_origins.iter().any(|o| o == text).then_some(origin)
    }

    /// The gateway's own answer to a preflight (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`); `None` for every other request.
    pub fn preflight(&self, method: &Method, headers: &HeaderMap) -> Option<http::Response<()>> {
        if method != Method::OPTIONS
            || !headers.contains_key(header::ORIGIN)
            || !headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return None;
        }
        let mut resp = http::Response::new(());
        *resp.status_mut() = StatusCode::NO_CONTENT;
        if let Some(origin) = self.allowed(headers.get(header::ORIGIN)) {
            let h = resp.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOW_METHODS),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOW_HEADERS),
            );
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(MAX_AGE_SECONDS));
            h.insert(header::VARY, HeaderValue::from_static("origin"));
        }
        Some(resp)
    }

    /// Adds the headers an answer to a request from `origin` carries, if it is allowed.
    pub fn decorate(&self, origin: Option<&HeaderValue>, response: &mut HeaderMap) {
        if let Some(origin) = self.allowed(origin) {
            response.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            response.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSE_HEADERS),
            );
            response.append(header::VARY, HeaderValue::from_static("origin"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (http::HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn only_listed_origins_get_cors_headers() {
        let cors = Cors {
            allow_origins: vec!["http://127.0.0.1:3001".into()],
        };
        let ok = headers(&[
            ("origin", "http://127.0.0.1:3001"),
            ("access-control-request-method", "POST"),
        ]);
        let answer = cors.preflight(&Method::OPTIONS, &ok).unwrap();
        assert_eq!(answer.status(), 204);
        assert_eq!(
            answer.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "http://127.0.0.1:3001"
        );
        let other = headers(&[
            ("origin", "http://evil.example"),
            ("access-control-request-method", "POST"),
        ]);
        let answer = cors.preflight(&Method::OPTIONS, &other).unwrap();
        assert!(answer.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        // Not a preflight: routed as usual.
        assert!(
            cors.preflight(&Method::OPTIONS, &headers(&[("origin", "http://127.0.0.1:3001")]))
                .is_none()
        );
        assert!(cors.preflight(&Method::GET, &ok).is_none());
        let mut out = HeaderMap::new();
        cors.decorate(other.get(header::ORIGIN), &mut out);
        assert!(out.is_empty());
        cors.decorate(ok.get(header::ORIGIN), &mut out);
        assert_eq!(out[header::ACCESS_CONTROL_EXPOSE_HEADERS], "location");
    }
}
