//! The envelope around every request: authenticate, run the route, turn any problem into a
//! response, and write one access-log line (route, status, latency; never bodies or headers).

use std::future::Future;
use std::time::Instant;

use lambda_http::{Body, Request, Response};

use super::Problem;
use crate::auth::{Authenticator, Principal};
use crate::authz::{self, Action, Target};

/// What a route produces: a response, or a problem to render.
pub type Handled = Result<Response<Body>, Problem>;

pub async fn authenticate(auth: &Authenticator, req: &Request) -> Result<Principal, Problem> {
    let header = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    Ok(auth.authenticate(header).await?)
}

pub fn finish(route: &str, started: Instant, subject: Option<&str>, result: Handled) -> Response<Body> {
    let resp = result.unwrap_or_else(Problem::into_response);
    if resp.status().is_server_error() {
        crate::metrics::count(crate::metrics::Metric::Api5xx);
    } else if resp.status().is_client_error() {
        crate::metrics::count(crate::metrics::Metric::Api4xx);
    }
    tracing::info!(
        route,
        status = resp.status().as_u16(),
        latency_ms = started.elapsed().as_millis() as u64,
        subject,
        "request"
    );
    resp
}

/// Gates a management action (admins only), through the one authorization decision.
pub fn require(principal: &Principal, action: Action) -> Result<(), Problem> {
    authz::decide(principal, action, None, Target::default(), &[])
        .map(|_| ())
        .map_err(Problem::from)
}

/// The envelope every bearer-authenticated function runs: authenticate, route, render any
/// problem, log. `route` gets the principal and the route key.
pub async fn serve<F, Fut>(auth: &Authenticator, req: &Request, route: F) -> Response<Body>
where
    F: FnOnce(Principal, String) -> Fut,
    Fut: Future<Output = Handled>,
{
    let started = Instant::now();
    let key = super::route_key(req);
    if let Some(resp) = method_not_allowed(req.method().as_str(), req.uri().path()) {
        return finish(&key, started, None, Ok(resp));
    }
    match authenticate(auth, req).await {
        Err(problem) => finish(&key, started, None, Err(problem)),
        Ok(principal) => {
            let subject = principal.subject.clone();
            let result = route(principal, key.clone()).await;
            finish(&key, started, Some(&subject), result)
        }
    }
}

/// 405 with `Allow` for a method the resource this path names lacks, whichever route API
/// Gateway matched: it matches method by method, so `PATCH /accounts/external-ids` reaches
/// `PATCH /accounts/{id}` (see `routes::match_route`). None when the method is served there or
/// the path is none of ours (the route API Gateway matched then stands).
pub fn method_not_allowed(method: &str, path: &str) -> Option<Response<Body>> {
    if crate::routes::match_route(method, path).is_some() {
        return None;
    }
    let allowed = crate::routes::allowed_methods(path);
    if allowed.is_empty() {
        return None;
    }
    let mut resp = Problem::new(
        http::StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        format!("{method} is not served on {path}"),
    )
    .into_response();
    // RFC 9110: a 405 lists what is allowed.
    resp.headers_mut().insert(
        http::header::ALLOW,
        allowed.join(", ").parse().expect("method names are header-safe"),
    );
    Some(resp)
}
