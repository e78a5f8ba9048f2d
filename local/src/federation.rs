//! A stand-in for AWS's sign-in federation endpoint (`/federation`), so console URLs can be
//! made with no network. `getSigninToken` checks the session credentials against local AWS (as
//! AWS would: they must be valid) and returns a token; every request is recorded for tests.

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
            if let Some(endpoint) = &s.aws_endpoint {
                // As AWS does, refuse credentials that do not work.
                let creds =
                    aws_credential_types::Credentials::new(id, key, Some(token.to_string()), None, "federation");
                let sdk = shared::adapters::aws::sdk_defaults()
                    .endpoint_url(endpoint)
                    .region(aws_config::Region::new(crate::local_aws::REGION))
                    .credentials_provider(creds)
                    .load()
                    .await;
                // AWS's sign-in service checks them inside, with no CloudTrail event: marked so
                // the local AWS does not record the stand-in's check as the session's call.
                let checked = aws_sdk_sts::Client::new(&sdk)
                    .get_caller_identity()
                    .customize()
                    .mutate_request(|r| {
                        r.headers_mut().insert("x-cib-local-unrecorded", "1");
                    })
                    .send()
                    .await;
                if let Err(e) = checked {
                    tracing::info!(error = ?e, "the federation stand-in refused the session's credentials");
                    return (http::StatusCode::BAD_REQUEST, "invalid session credentials").into_response();
                }
            }
            axum::Json(serde_json::json!({ "SigninToken": format!("local-signin-{}", ulid::Ulid::new()) }))
                .into_response()
        }
        "login" => (
            http::StatusCode::OK,
            "Local stand-in: in AWS this signs you in to the console.",
        )
            .into_response(),
        _ => (http::StatusCode::BAD_REQUEST, "unknown Action").into_response(),
    }
}
