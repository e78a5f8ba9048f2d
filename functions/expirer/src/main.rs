//! Lambda entry point of the `expirer` function: wire and run.

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = shared::App::from_env_with_shell_and_activity().await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        expirer::handle(app, event.payload).await.map_err(Error::from)
    }))
    .await
}
