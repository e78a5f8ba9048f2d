//! Lambda entry point of the `expirer` function: wire and run.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::adapters::aws;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    // Ends (KMS, IAM, Session Manager without EC2), logs and digests (S3, the signing key), the bus and
    // activity copies (CloudTrail); it assumes no role for anyone (see `Overrides`).
    let app = shared::App::from_env(shared::app::Overrides {
        kms: Some(aws::kms::sealer),
        iam: Some(aws::iam::connector),
        bucket: Some(aws::s3_log::bucket),
        events: Some(aws::eventbridge::publisher),
        signer: Some(aws::kms::evidence_key),
        shell: Some(aws::shell::ssm_connector),
        activity: Some(aws::cloudtrail::connector),
        // Identity Center sessions are ended through it (and set up, in accounts).
        identity_center: Some(aws::identity_center::connector),
        ..Default::default()
    })
    .await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        expirer::handle(app, event.payload).await.map_err(Error::from)
    }))
    .await
}
