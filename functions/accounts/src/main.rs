//! Lambda entry point of the `accounts` function: wire and run.

use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::App::from_env_with_shell().await?;
    let app = &app;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(accounts::handle(app, req).await)
    }))
    .await
}
