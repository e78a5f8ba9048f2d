//! Lambda entry point of the `chatops` function: wire and run.

use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    // DynamoDB, the SQS queue it hands slash commands to (see `Overrides`; the other functions
    // do not link the SQS client), EventBridge, where Slack links and their confirmations are
    // put, and SSM, where the signing secret is read at cold start.
    let app = shared::App::from_env(shared::app::Overrides {
        events: Some(shared::adapters::aws::eventbridge::publisher),
        parameters: Some(shared::adapters::aws::parameters::secure_strings),
        ..shared::app::Overrides::default()
    })
    .await?
    .with_slack_jobs();
    let app = &app;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(chatops::handle(app, req).await)
    }))
    .await
}
