//! Lambda entry point of the `groups` function: wire and run.

use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    // DynamoDB only: no other AWS SDK is linked (see `Overrides`).
    let app = shared::App::from_env(shared::app::Overrides::default()).await?;
    let app = &app;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(groups::handle(app, req).await)
    }))
    .await
}
