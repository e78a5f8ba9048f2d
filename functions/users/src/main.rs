//! Lambda entry point of the `users` function: wire and run.

use lambda_http::{Error, service_fn};
use shared::adapters::aws;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    // Only what provisioning, import and rotation call: KMS and IAM (see `Overrides`).
    let app = shared::App::from_env(shared::app::Overrides {
        kms: Some(aws::kms::sealer),
        iam: Some(aws::iam::connector),
        ..Default::default()
    })
    .await?;
    let app = &app;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(users::handle(app, req).await)
    }))
    .await
}
