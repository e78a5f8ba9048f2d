//! Lambda entry point of the `org-sync` function: wire and run.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::adapters::aws;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    // Discovery (STS, Organizations, KMS for the organization's ExternalId) and ends of the
    // sessions no grant covers any more (IAM, the logs, the bus, Session Manager without EC2).
    let app = shared::App::from_env(shared::app::Overrides {
        kms: Some(aws::kms::sealer),
        sts: Some(aws::sts::adapters),
        iam: Some(aws::iam::connector),
        bucket: Some(aws::s3_log::bucket),
        events: Some(aws::eventbridge::publisher),
        shell: Some(aws::shell::ssm_connector),
        organizations: Some(aws::organizations::directory),
        // Identity Center sessions are ended through it (and set up, in accounts).
        identity_center: Some(aws::identity_center::connector),
        ..Default::default()
    })
    .await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        org_sync::handle(app, event.payload)
            .await
            .map(|run| serde_json::json!({ "synced": run.synced.len(), "failed": run.failed.len() }))
            .map_err(Error::from)
    }))
    .await
}
