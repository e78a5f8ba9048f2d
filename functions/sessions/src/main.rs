//! Lambda entry point of the `sessions` function: wire and run.

use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::App::from_env_with_shell_and_activity().await?;
    let app = &app;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(sessions::handle(app, req).await)
    }))
    .await
}
