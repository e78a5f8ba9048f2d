//! Lambda entry point of the `accounts` function: wire and run.

use lambda_http::{Error, service_fn};
use shared::adapters::aws;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    // Registration (STS, KMS), trust reviews (IAM), evidence (S3, the signing key's public
    // half), shell settings (Session Manager, not EC2), organizations (Organizations); no bus, no
    // CloudTrail (see `Overrides`).
    let app = shared::App::from_env(shared::app::Overrides {
        kms: Some(aws::kms::sealer),
        sts: Some(aws::sts::adapters),
        iam: Some(aws::iam::connector),
        bucket: Some(aws::s3_log::bucket),
        signer: Some(aws::kms::evidence_key),
        shell: Some(aws::shell::ssm_connector),
        organizations: Some(aws::organizations::directory),
        // A sync run now (POST /organizations/{id}/sync) ends sessions no grant covers any more.
        events: Some(aws::eventbridge::publisher),
        // Identity Center sessions are ended through it (and set up, in accounts).
        identity_center: Some(aws::identity_center::connector),
        ..Default::default()
    })
    .await?;
    let app = &app;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(accounts::handle(app, req).await)
    }))
    .await
}
