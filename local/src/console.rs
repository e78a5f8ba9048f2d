//! Serves the built web console (`web/dist`) on its own loopback origin, as CloudFront serves
//! it in a deployment: the same Content-Security-Policy and headers (the template's response
//! headers policy; tests/e2e/console.rs compares them), and the `config.json` the deploy script
//! writes there, here naming the local API and the development sign-in.

use std::path::{Component, Path, PathBuf};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// The console's CSP: its own scripts and styles only, no inline code, and connections only to
/// itself, the API and the identity provider's token endpoint.
pub fn content_security_policy(api_origin: &str, idp_origin: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self' {api_origin} {idp_origin}; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'; object-src 'none'"
    )
}

#[derive(Clone)]
struct Console {
    dist: PathBuf,
    config: serde_json::Value,
    csp: String,
}

/// The console's `config.json`: where the API is and how to sign in.
pub fn config(api_base: &str, idp_base: &str) -> serde_json::Value {
    serde_json::json!({
        "api_base": api_base,
        "oidc": {
            "authorization_endpoint": format!("{idp_base}/authorize"),
            "token_endpoint": format!("{idp_base}/token"),
            "client_id": crate::dev_idp::CLIENT_ID,
            "scope": "openid email offline_access",
            "api_token": "id_token",
        },
        "development_sign_in": true,
    })
}

/// Serves `dist` on `listener` (bound with `crate::bind_loopback`) with `config` and the CSP.
pub fn serve(listener: tokio::net::TcpListener, dist: PathBuf, config: serde_json::Value, csp: String) {
    let router = axum::Router::new()
        .fallback(file)
        .with_state(Console { dist, config, csp });
    crate::serve_listener(listener, router);
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// `request` under `dist`, or `None` for anything that could leave it.
fn resolve(dist: &Path, request: &str) -> Option<PathBuf> {
    let relative = Path::new(request.trim_start_matches('/'));
    if relative.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(dist.join(relative))
}

async fn file(State(c): State<Console>, uri: http::Uri) -> Response {
    let path = match uri.path() {
        "/" | "/index.html" => "/index.html",
        p => p,
    };
    let mut resp = if path == "/config.json" {
        axum::Json(c.config.clone()).into_response()
    } else {
        match resolve(&c.dist, path) {
            Some(file) => match tokio::fs::read(&file).await {
                Ok(bytes) => {
                    let mut r = bytes.into_response();
                    r.headers_mut()
                        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&file)));
                    r
                }
                Err(_) => (StatusCode::NOT_FOUND, "not found").into_response(),
            },
            None => (StatusCode::NOT_FOUND, "not found").into_response(),
        }
    };
    let h = resp.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&c.csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Sign-in codes and console links must not leak to other sites through Referer.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Hashed assets may be kept; the page and its configuration never.
    let cache = if path.starts_with("/assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-store"
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}

#[cfg(test)]
mod tests {
    #[test]
    fn nothing_outside_dist_is_served() {
        let dist = std::path::Path::new("/srv/dist");
        assert!(super::resolve(dist, "/../secret").is_none());
        assert!(super::resolve(dist, "/assets/../../x").is_none());
        assert_eq!(
            super::resolve(dist, "/assets/index.js").unwrap(),
            dist.join("assets/index.js")
        );
    }
}
