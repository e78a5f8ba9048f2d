//! The composition root: builds the services from configuration, choosing the AWS adapters.
//! Functions and the local runner both start here, so they run the same wiring.

use std::sync::Arc;

use crate::adapters::aws::{dynamodb::DynamoStore, kms::KmsSealer, sts::StsVerifier};
use crate::auth::Authenticator;
use crate::config::{Config, ConfigError};
use crate::ports::SystemClock;
use crate::services::accounts::AccountService;

/// Everything a function needs to serve requests.
#[derive(Clone)]
pub struct App {
    pub auth: Arc<Authenticator>,
    pub accounts: AccountService,
}

impl App {
    /// Builds the app on AWS. Creating SDK clients makes no network call, so this is cheap at
    /// cold start.
    pub fn on_aws(config: &Config, sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let auth = Authenticator::new(config.jwt.clone()).map_err(ConfigError)?;
        let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), &config.table_name));
        let sealer = Arc::new(KmsSealer::new(aws_sdk_kms::Client::new(sdk), &config.kms_key_id));
        let verifier = Arc::new(StsVerifier::new(sdk.clone()));
        Ok(App {
            auth: Arc::new(auth),
            accounts: AccountService::new(store, verifier, sealer, Arc::new(SystemClock)),
        })
    }

    /// Reads the environment and builds the app (a Lambda's cold start).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let sdk = config.sdk_config().await;
        Self::on_aws(&config, &sdk)
    }
}
