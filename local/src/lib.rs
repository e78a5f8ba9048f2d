//! The local runner: Cloud IAM Broker on localhost, with no Docker and no real AWS.
//!
//! - `clock_control`: moves the broker's clock ahead of the local AWS's when a test asks;
//! - `local_aws`: starts and seeds moto (authenticated mode);
//! - `console`: serves the web console (`web/dist`) with its CSP and its `config.json`;
//! - `cors`: API Gateway's CORS, as the template configures it;
//! - `dev_idp`: the development sign-in, an OIDC code + PKCE stand-in minting local tokens;
//! - `demo`: what `scripts/dev` adds to the demo account (a shell-session target);
//! - `federation`: a stand-in for AWS's sign-in federation endpoint;
//! - `gateway`: routes requests to the function handlers as API Gateway v2 events;
//! - `organization`: the seeded AWS Organization, and what its administrator does to it;
//! - `slack`: a stand-in for Slack's response URLs and the Slack jobs queue's poller;
//! - `system`: wires both with the broker's configuration and mints local tokens.
//!
//! The end-to-end tests start the same system, so what a developer runs is what is tested.

pub mod clock_control;
pub mod console;
pub mod cors;
pub mod demo;
pub mod dev_idp;
pub mod federation;
pub mod gateway;
pub mod identity_center;
pub mod local_aws;
pub mod organization;
pub mod slack;
pub mod system;

pub use system::{AwsMode, LocalSystem, Options};

/// Serves `router` on 127.0.0.1 (`port` 0 picks a free one) for as long as the runtime runs;
/// returns the address. The API and every stand-in are served this way.
pub async fn serve_on_loopback(port: u16, router: axum::Router) -> Result<std::net::SocketAddr, String> {
    let (listener, addr) = bind_loopback(port).await?;
    serve_listener(listener, router);
    Ok(addr)
}

/// Binds 127.0.0.1:`port` without serving yet, for a server whose address others must know
/// first (the console's origin goes into the API's CORS).
pub async fn bind_loopback(port: u16) -> Result<(tokio::net::TcpListener, std::net::SocketAddr), String> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("binding 127.0.0.1:{port}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    Ok((listener, addr))
}

/// Serves `router` on a bound `listener` for as long as the runtime runs.
pub fn serve_listener(listener: tokio::net::TcpListener, router: axum::Router) {
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "a local server stopped");
        }
    });
}
