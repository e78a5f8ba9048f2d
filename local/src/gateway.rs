//! An API Gateway (HTTP API, payload v2) stand-in: matches the request against the route
//! table, builds the same v2 event API Gateway would send, parses it with `lambda_http` exactly
//! as the Lambda runtime does, and calls the function's handler.

use std::collections::BTreeMap;

use axum::body::{Body as AxumBody, to_bytes};
use axum::extract::State;
use axum::response::Response as AxumResponse;
use base64::Engine;
use lambda_http::{Body, Request};
use serde_json::{Value, json};
use shared::App;
use shared::http::Problem;
use shared::routes::{Function, match_route};

/// API Gateway's own payload limit; the handlers enforce their smaller one.
const GATEWAY_MAX_BODY: usize = 10 * 1024 * 1024;

#[derive(Clone)]
pub struct Gateway {
    pub app: App,
    /// The template's `CorsConfiguration` (the web console's origin).
    pub cors: crate::cors::Cors,
}

impl Gateway {
    /// Calls the handler of `function`, as its Lambda would be invoked.
    pub async fn invoke(&self, function: Function, req: Request) -> lambda_http::Response<Body> {
        match function {
            Function::Accounts => accounts::handle(&self.app, req).await,
            Function::Users => users::handle(&self.app, req).await,
            Function::Groups => groups::handle(&self.app, req).await,
            Function::Sessions => sessions::handle(&self.app, req).await,
            Function::Chatops => chatops::handle(&self.app, req).await,
        }
    }
}

/// The v2 event API Gateway sends for a matched route.
pub fn event(
    route_key: &str,
    method: &str,
    path: &str,
    raw_query: &str,
    headers: &http::HeaderMap,
    path_params: &BTreeMap<String, String>,
    body: &[u8],
) -> Value {
    let mut merged: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == http::header::COOKIE {
            cookies.extend(value.split(';').map(|c| c.trim().to_string()));
            continue;
        }
        merged
            .entry(name.as_str().to_string())
            .and_modify(|v| *v = format!("{v},{value}"))
            .or_insert(value);
    }
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode(k), decode(v));
        query
            .entry(k)
            .and_modify(|old| *old = format!("{old},{v}"))
            .or_insert(v);
    }
    let now = time::OffsetDateTime::now_utc();
    let (body, encoded) = match std::str::from_utf8(body) {
        _ if body.is_empty() => (Value::Null, false),
        Ok(text) => (Value::String(text.to_string()), false),
        Err(_) => (
            Value::String(base64::engine::general_purpose::STANDARD.encode(body)),
            true,
        ),
    };
    let user_agent = merged.get("user-agent").cloned().unwrap_or_default();
    json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "cookies": if cookies.is_empty() { Value::Null } else { json!(cookies) },
        "headers": merged,
        "queryStringParameters": if query.is_empty() { Value::Null } else { json!(query) },
        "pathParameters": if path_params.is_empty() { Value::Null } else { json!(path_params) },
        "requestContext": {
            "accountId": crate::local_aws::BROKER_ACCOUNT,
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": user_agent },
            "requestId": ulid::Ulid::new().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format(&time::macros::format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000")).unwrap_or_default(),
            "timeEpoch": (now.unix_timestamp_nanos() / 1_000_000) as i64,
        },
        "body": body,
        "isBase64Encoded": encoded,
    })
}

/// Query-string decoding: `+` is a space, then percent escapes.
fn decode(s: &str) -> String {
    shared::encoding::percent_decode(&s.replace('+', " "))
}

/// The axum fallback that serves every request.
pub async fn serve(State(gateway): State<Gateway>, req: axum::extract::Request) -> AxumResponse {
    let (parts, body) = req.into_parts();
    if let Some(preflight) = gateway.cors.preflight(&parts.method, &parts.headers) {
        let (p, ()) = preflight.into_parts();
        return AxumResponse::from_parts(p, AxumBody::empty());
    }
    let origin = parts.headers.get(http::header::ORIGIN).cloned();
    let mut resp = route(gateway.clone(), parts, body).await;
    gateway.cors.decorate(origin.as_ref(), resp.headers_mut());
    resp
}

async fn route(gateway: Gateway, parts: http::request::Parts, body: AxumBody) -> AxumResponse {
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let Some((route, params)) = match_route(&method, &path) else {
        // The same answer the functions give where API Gateway matched a less literal route.
        return to_axum(
            shared::http::handler::method_not_allowed(&method, &path)
                .unwrap_or_else(|| Problem::not_found(format!("no route for {method} {path}")).into_response()),
        );
    };
    let Ok(bytes) = to_bytes(body, GATEWAY_MAX_BODY).await else {
        return to_axum(
            Problem::new(
                http::StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "The request body is too large",
                "over API Gateway's limit",
            )
            .into_response(),
        );
    };
    let params: BTreeMap<String, String> = params.into_iter().collect();
    let event = event(
        &route.key(),
        &method,
        &path,
        parts.uri.query().unwrap_or(""),
        &parts.headers,
        &params,
        &bytes,
    );
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(r) => r,
        Err(e) => {
            return to_axum(
                Problem::bad_request(format!("the gateway could not build the event: {e}")).into_response(),
            );
        }
    };
    to_axum(gateway.invoke(route.function, request).await)
}

fn to_axum(resp: lambda_http::Response<Body>) -> AxumResponse {
    let (parts, body) = resp.into_parts();
    let bytes = match body {
        Body::Empty => Vec::new(),
        Body::Text(t) => t.into_bytes(),
        Body::Binary(b) => b,
        _ => Vec::new(),
    };
    AxumResponse::from_parts(parts, AxumBody::from(bytes))
}
