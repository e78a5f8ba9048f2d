//! The envelope around every request: authenticate, run the route, turn any problem into a
//! response, and write one access-log line (route, status, latency; never bodies or headers).

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

pub fn finish(route: &str, started: Instant, principal: Option<&Principal>, result: Handled) -> Response<Body> {
    let resp = result.unwrap_or_else(Problem::into_response);
    tracing::info!(
        route,
        status = resp.status().as_u16(),
        latency_ms = started.elapsed().as_millis() as u64,
        subject = principal.map(|p| p.subject.as_str()),
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
