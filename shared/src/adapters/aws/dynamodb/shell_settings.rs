//! The shell-settings item of an account (`ACCOUNT#<id>` / `SHELL`). It keeps the settings as
//! admins sent them and validates them again on the way out, so one parser owns them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::accounts::account_pk;
use super::{DynamoStore, to_item};
use crate::domain::shell::{ShellSettings, ShellSettingsInput};
use crate::domain::{AccountId, RoleArn};
use crate::ports::StoreError;

pub(super) const SHELL_SK: &str = "SHELL";

#[derive(Debug, Serialize, Deserialize)]
struct ShellRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    enabled: bool,
    role_arn: String,
    target_tags: BTreeMap<String, String>,
    target_ids: Vec<String>,
    run_as_default: Option<String>,
    run_as: BTreeMap<String, String>,
    max_duration_seconds: u32,
    idle_timeout_minutes: u32,
    s3_bucket: String,
    s3_key_prefix: String,
    s3_encryption: bool,
    kms_key_id: Option<String>,
    cloudwatch_log_group: Option<String>,
    cloudwatch_streaming: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    trust_review: Vec<crate::domain::trust::RoleTrustReview>,
}

impl DynamoStore {
    pub(super) async fn read_shell(&self, id: &AccountId) -> Result<Option<ShellSettings>, StoreError> {
        self.get_item::<ShellRecord>(account_pk(id), SHELL_SK)
            .await?
            .map(ShellRecord::into_domain)
            .transpose()
    }

    pub(super) async fn write_shell(&self, id: &AccountId, s: &ShellSettings) -> Result<(), StoreError> {
        let r = &s.recording;
        let record = ShellRecord {
            pk: account_pk(id),
            sk: SHELL_SK.into(),
            entity: "shell_settings".into(),
            enabled: s.enabled,
            role_arn: s.role.to_string(),
            target_tags: s.targets.tags.clone(),
            target_ids: s.targets.ids.iter().map(ToString::to_string).collect(),
            run_as_default: s.run_as_default.as_ref().map(|u| u.as_str().to_string()),
            run_as: s
                .run_as
                .iter()
                .map(|(e, u)| (e.to_string(), u.as_str().to_string()))
                .collect(),
            max_duration_seconds: s.max_duration.seconds(),
            idle_timeout_minutes: s.idle_timeout_minutes,
            s3_bucket: r.s3_bucket.clone(),
            s3_key_prefix: r.s3_key_prefix.clone(),
            s3_encryption: r.s3_encryption,
            kms_key_id: r.kms_key_id.clone(),
            cloudwatch_log_group: r.cloudwatch_log_group.clone(),
            cloudwatch_streaming: r.cloudwatch_streaming,
            trust_review: s.trust_review.clone(),
        };
        self.put_while_account_exists(id, to_item(&record)).await
    }
}

/// A stored shell settings item, as read in a batch with the account's other items.
pub(super) fn shell_from_item(
    item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> Result<ShellSettings, StoreError> {
    super::from_item::<ShellRecord>(item)?.into_domain()
}

impl ShellRecord {
    fn into_domain(self) -> Result<ShellSettings, StoreError> {
        let r = self;
        let corrupt = || StoreError::Unavailable("stored shell settings are corrupt".into());
        let owner = RoleArn::parse(&r.role_arn).map_err(|_| corrupt())?.account().clone();
        let mut settings = ShellSettings::parse(
            &owner,
            ShellSettingsInput {
                enabled: r.enabled,
                role_arn: r.role_arn,
                target_tags: r.target_tags,
                target_ids: r.target_ids,
                run_as_default: r.run_as_default,
                run_as: r.run_as,
                max_duration_seconds: r.max_duration_seconds.into(),
                idle_timeout_minutes: r.idle_timeout_minutes.into(),
                s3_bucket: r.s3_bucket,
                s3_key_prefix: Some(r.s3_key_prefix),
                s3_encryption: r.s3_encryption,
                kms_key_id: r.kms_key_id,
                cloudwatch_log_group: r.cloudwatch_log_group,
                cloudwatch_streaming: r.cloudwatch_streaming,
            },
        )
        .map_err(|_| corrupt())?;
        settings.trust_review = r.trust_review;
        Ok(settings)
    }
}
