//! Lambda entry point of the `chatops-worker` function: wire and run.

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    // Slack's requests start, approve and end sessions: all but CloudTrail (see `Overrides`).
    let app = shared::App::from_env(shared::app::Overrides {
        activity: None,
        ..shared::app::Overrides::default().with_everything()
    })
    .await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        Ok::<_, Error>(chatops_worker::handle(app, event.payload).await)
    }))
    .await
}
