//! A stand-in for AWS's sign-in federation endpoint (`/federation`), so console URLs can be
//! made with no network; every request is recorded for tests. `getSigninToken` is answered by
//! the local AWS (`local/aws/cib_local_aws/console_sessions.py`): it checks the credentials as
//! AWS would and issues a sign-in token for a console session of `SessionDuration` (up to 12
//! hours, whatever the credentials' own expiry), which tests can then act as.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::response::IntoResponse;

/// One request the stand-in received, as the tests inspect it.
#[derive(Debug, Clone)]
pub struct FederationRequest {
    pub action: String,
    pub params: HashMap<String, String>,
    /// When it arrived and how long the answer took, for the benchmark's critical path.
    pub received: std::time::Instant,
    pub took: std::time::Duration,
}

#[derive(Clone, Default)]
pub struct FederationStandIn {
    pub requests: Arc<Mutex<Vec<FederationRequest>>>,
    aws_endpoint: Option<String>,
}

impl FederationStandIn {
    /// Starts on a free loopback port; returns the handle and the endpoint URL.
    pub async fn start(aws_endpoint: Option<String>) -> Result<(Self, String), String> {
        let stand_in = FederationStandIn {
            requests: Default::default(),
            aws_endpoint,
        };
        let router = axum::Router::new()
            .route("/federation", axum::routing::get(serve))
            .with_state(stand_in.clone());
        let addr = crate::serve_on_loopback(0, router).await?;
        Ok((stand_in, format!("http://{addr}/federation")))
    }

    pub fn requests(&self) -> Vec<FederationRequest> {
        self.requests.lock().unwrap().clone()
    }
}

async fn serve(
    State(s): State<FederationStandIn>,
    Query(params): Query<HashMap<String, String>>,
) -> axum::response::Response {
    let received = std::time::Instant::now();
    let action = params.get("Action").cloned().unwrap_or_default();
    let response = answer(&s, &action, &params).await;
    s.requests.lock().unwrap().push(FederationRequest {
        action,
        params,
        received,
        took: received.elapsed(),
    });
    response
}

async fn answer(s: &FederationStandIn, action: &str, params: &HashMap<String, String>) -> axum::response::Response {
    match action {
        "getSigninToken" => {
            let Some(session) = params
                .get("Session")
                .and_then(|v| serde_json::from_str::<serde_json::Value>(v).ok())
            else {
                return (http::StatusCode::BAD_REQUEST, "Session is missing or not JSON").into_response();
            };
            let (Some(id), Some(key), Some(token)) = (
                session["sessionId"].as_str(),
                session["sessionKey"].as_str(),
                session["sessionToken"].as_str(),
            ) else {
                return (
                    http::StatusCode::BAD_REQUEST,
                    "Session needs sessionId, sessionKey and sessionToken",
                )
                    .into_response();
            };
            let Some(endpoint) = &s.aws_endpoint else {
                return axum::Json(serde_json::json!({ "SigninToken": format!("local-signin-{}", ulid::Ulid::new()) }))
                    .into_response();
            };
            let mut body = serde_json::json!({ "sessionId": id, "sessionKey": key, "sessionToken": token });
            if let Some(duration) = params.get("SessionDuration") {
                body["SessionDuration"] = duration.as_str().into();
            }
            let answer = reqwest::Client::new()
                .post(format!(
                    "{}/moto-api/cib/federation/signin-token",
                    endpoint.trim_end_matches('/')
                ))
                .json(&body)
                .send()
                .await;
            match answer {
                Ok(r) if r.status().is_success() => match r.json::<serde_json::Value>().await {
                    Ok(v) => axum::Json(serde_json::json!({ "SigninToken": v["SigninToken"] })).into_response(),
                    Err(_) => (http::StatusCode::BAD_GATEWAY, "the local AWS answered no token").into_response(),
                },
                Ok(r) => {
                    let why = r.text().await.unwrap_or_default();
                    tracing::info!(why, "the federation stand-in refused the session's credentials");
                    (http::StatusCode::BAD_REQUEST, "invalid session credentials").into_response()
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the local AWS did not answer the federation stand-in");
                    (http::StatusCode::BAD_GATEWAY, "the local AWS did not answer").into_response()
                }
            }
        }
        "login" => (
            http::StatusCode::OK,
            "Local stand-in: in AWS this signs you in to the console.",
        )
            .into_response(),
        _ => (http::StatusCode::BAD_REQUEST, "unknown Action").into_response(),
    }
}
