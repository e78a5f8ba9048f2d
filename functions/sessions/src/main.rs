//! Lambda entry point of the `sessions` function: wire and run.

use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    // Sessions reach every service the broker uses (see `Overrides`).
    let app = shared::App::from_env(shared::app::Overrides::default().with_everything()).await?;
    let app = &app;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(sessions::handle(app, req).await)
    }))
    .await
}
