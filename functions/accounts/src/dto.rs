//! The JSON shapes of the accounts API. Requests refuse unknown fields; responses never carry
//! a secret (no secret key, no ExternalId, no ciphertext).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use shared::domain::shell::{ShellSettings, ShellSettingsInput};
use shared::domain::{
    AccessKeyId, Account, AccountCredentials, AccountName, Collector, Invalid, JitSettings, Region, RoleArn,
    StoredCredentials, parse_external_id, parse_secret_access_key,
};
use shared::http::request::Object;
use shared::services::accounts::{IssuedExternalId, RegisterAccount, UpdateAccount};
use shared::services::shell_settings::Preferences;
use time::OffsetDateTime;

/// Credentials as sent: `type` selects which of the other fields are required. A flat struct
/// (rather than a tagged enum) lets errors name the exact field.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsIn {
    #[serde(rename = "type")]
    kind: CredentialKind,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    role_arn: Option<String>,
    external_id: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum CredentialKind {
    AccessKey,
    AssumeRole,
}

impl CredentialsIn {
    fn parse(self) -> Result<AccountCredentials, Invalid> {
        let mut c = Collector::default();
        let (needed, foreign) = match self.kind {
            CredentialKind::AccessKey => (
                [
                    ("access_key_id", &self.access_key_id),
                    ("secret_access_key", &self.secret_access_key),
                ],
                [("role_arn", &self.role_arn), ("external_id", &self.external_id)],
            ),
            CredentialKind::AssumeRole => (
                [("role_arn", &self.role_arn), ("external_id", &self.external_id)],
                [
                    ("access_key_id", &self.access_key_id),
                    ("secret_access_key", &self.secret_access_key),
                ],
            ),
        };
        for (field, value) in needed {
            if value.is_none() {
                c.push(field, "is required for this credential type");
            }
        }
        for (field, value) in foreign {
            if value.is_some() {
                c.push(field, "does not belong to this credential type");
            }
        }
        let creds = match self.kind {
            CredentialKind::AccessKey => {
                let id = self.access_key_id.and_then(|v| c.take(AccessKeyId::parse(&v)));
                let secret = self.secret_access_key.and_then(|v| c.take(parse_secret_access_key(&v)));
                id.zip(secret)
                    .map(|(access_key_id, secret_access_key)| AccountCredentials::AccessKey {
                        access_key_id,
                        secret_access_key,
                    })
            }
            CredentialKind::AssumeRole => {
                let role = self
                    .role_arn
                    .and_then(|v| c.take(RoleArn::parse(&v).map_err(|e| e.under("role_arn"))));
                let ext = self.external_id.and_then(|v| c.take(parse_external_id(&v)));
                role.zip(ext)
                    .map(|(role_arn, external_id)| AccountCredentials::AssumeRole { role_arn, external_id })
            }
        };
        c.finish()?;
        Ok(creds.expect("collector checked"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterIn {
    pub name: String,
    pub default_region: String,
    pub credentials: Object<CredentialsIn>,
}

impl RegisterIn {
    pub fn parse(self) -> Result<RegisterAccount, Invalid> {
        let mut c = Collector::default();
        let name = c.take(AccountName::parse(&self.name));
        let region = c.take(Region::parse(&self.default_region));
        let creds = c.take(self.credentials.0.parse().map_err(|e| e.under("credentials")));
        c.finish()?;
        Ok(RegisterAccount {
            name: name.expect("checked"),
            default_region: region.expect("checked"),
            credentials: creds.expect("checked"),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateIn {
    #[serde(default, deserialize_with = "shared::http::request::present")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "shared::http::request::present")]
    pub default_region: Option<Option<String>>,
    #[serde(default, deserialize_with = "shared::http::request::present")]
    pub credentials: Option<Option<Object<CredentialsIn>>>,
}

impl UpdateIn {
    pub fn parse(self) -> Result<UpdateAccount, Invalid> {
        // The contract asks for at least one field; one that is null is unchanged, so a
        // patch whose fields are all null is a no-op, not an error.
        if self.name.is_none() && self.default_region.is_none() && self.credentials.is_none() {
            return Err(Invalid::field("", "name, default_region or credentials is required"));
        }
        let (name, default_region, credentials) = (
            self.name.flatten(),
            self.default_region.flatten(),
            self.credentials.flatten().map(|c| c.0),
        );
        let mut c = Collector::default();
        let name = name.map(|n| c.take(AccountName::parse(&n)));
        let region = default_region.map(|r| c.take(Region::parse(&r)));
        let creds = credentials.map(|cr| c.take(cr.parse().map_err(|e| e.under("credentials"))));
        c.finish()?;
        Ok(UpdateAccount {
            name: name.flatten(),
            default_region: region.flatten(),
            credentials: creds.flatten(),
        })
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CredentialsOut {
    AccessKey { access_key_id: String },
    AssumeRole { role_arn: String },
}

#[derive(Serialize)]
pub struct AccountOut {
    pub id: String,
    pub name: String,
    pub default_region: String,
    pub aws_account_id: String,
    pub caller_arn: String,
    pub credentials: CredentialsOut,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Where the account sits in a registered organization (`null`: in none the broker knows).
    pub organization: Option<serde_json::Value>,
}

impl From<&Account> for AccountOut {
    fn from(a: &Account) -> Self {
        AccountOut {
            id: a.id.to_string(),
            name: a.name.to_string(),
            default_region: a.default_region.to_string(),
            aws_account_id: a.aws_account_id.to_string(),
            caller_arn: a.caller_arn.clone(),
            credentials: match &a.credentials {
                StoredCredentials::AccessKey { access_key_id, .. } => CredentialsOut::AccessKey {
                    access_key_id: access_key_id.to_string(),
                },
                StoredCredentials::AssumeRole { role_arn, .. } => CredentialsOut::AssumeRole {
                    role_arn: role_arn.to_string(),
                },
            },
            created_at: a.created_at,
            updated_at: a.updated_at,
            organization: a.organization.as_ref().map(|p| {
                serde_json::json!({
                    "id": p.organization.as_str(),
                    "ou_path": p.ou_path.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
                    "state": p.state.as_str(),
                })
            }),
        }
    }
}

/// A freshly issued ExternalId, with the trust policy the registered role needs: the one
/// response that shows it (AWS does not treat an ExternalId as a secret; the broker still keeps
/// it sealed and out of every other response and log). The account root as principal lets in
/// any principal of the broker's account its own policies allow `sts:AssumeRole`; the condition
/// on `aws:PrincipalArn` narrows that to the broker's own principals.
pub fn external_id_out(issued: &IssuedExternalId) -> serde_json::Value {
    let mut condition = serde_json::json!({ "StringEquals": { "sts:ExternalId": issued.external_id.expose() } });
    if let Some(principal) = &issued.broker_principal {
        condition["ArnLike"] = serde_json::json!({ "aws:PrincipalArn": principal });
    }
    let mut out = serde_json::json!({
        "external_id": issued.external_id.expose(),
        "expires_at": issued.expires_at.format(&time::format_description::well_known::Rfc3339).expect("formats"),
        "trust_condition": condition,
    });
    if let Some(broker) = &issued.broker_account {
        out["trust_policy"] = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": { "AWS": format!("arn:aws:iam::{broker}:root") },
                "Action": "sts:AssumeRole",
                "Condition": condition,
            }],
        });
    }
    out
}

#[derive(Serialize)]
pub struct AccountPage {
    pub items: Vec<AccountOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JitIn {
    pub active: bool,
    #[serde(default)]
    pub description: Option<String>,
    pub jit_enabled: bool,
    #[serde(deserialize_with = "shared::http::request::whole_number")]
    pub max_duration_seconds: i64,
    pub allowed_role_arns: Vec<String>,
}

#[derive(Serialize)]
pub struct JitOut {
    pub active: bool,
    pub description: String,
    pub jit_enabled: bool,
    pub max_duration_seconds: u32,
    pub allowed_role_arns: Vec<String>,
    /// What each allowed role's trust policy lets in beyond the broker's users.
    pub trust_review: Vec<shared::domain::trust::RoleTrustReview>,
    /// The trust policy every allowed role needs, applied once, the same for every user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_trust_policy: Option<serde_json::Value>,
}

impl From<&JitSettings> for JitOut {
    fn from(s: &JitSettings) -> Self {
        JitOut {
            active: s.active,
            description: s.description.clone(),
            jit_enabled: s.jit_enabled,
            max_duration_seconds: s.max_duration.seconds(),
            allowed_role_arns: s.allowed_roles.iter().map(ToString::to_string).collect(),
            trust_review: s.trust_review.clone(),
            role_trust_policy: s
                .allowed_roles
                .first()
                .map(shared::domain::iam_policies::role_trust_policy),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellTargetsIo {
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub instance_ids: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RunAsIo {
    #[serde(default)]
    pub default_user: Option<String>,
    #[serde(default)]
    pub users: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingIo {
    pub s3_bucket: String,
    #[serde(default)]
    pub s3_key_prefix: Option<String>,
    #[serde(default)]
    pub s3_encryption: bool,
    #[serde(default)]
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub cloudwatch_log_group: Option<String>,
    #[serde(default)]
    pub cloudwatch_streaming: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellIn {
    pub enabled: bool,
    pub role_arn: String,
    pub targets: ShellTargetsIo,
    #[serde(default)]
    pub run_as: Option<RunAsIo>,
    #[serde(deserialize_with = "shared::http::request::whole_number")]
    pub max_duration_seconds: i64,
    #[serde(deserialize_with = "shared::http::request::whole_number")]
    pub idle_timeout_minutes: i64,
    pub recording: RecordingIo,
}

impl ShellIn {
    pub fn into_input(self) -> ShellSettingsInput {
        let run_as = self.run_as.unwrap_or_default();
        ShellSettingsInput {
            enabled: self.enabled,
            role_arn: self.role_arn,
            target_tags: self.targets.tags.unwrap_or_default(),
            target_ids: self.targets.instance_ids.unwrap_or_default(),
            run_as_default: run_as.default_user,
            run_as: run_as.users.unwrap_or_default(),
            max_duration_seconds: self.max_duration_seconds,
            idle_timeout_minutes: self.idle_timeout_minutes,
            s3_bucket: self.recording.s3_bucket,
            s3_key_prefix: self.recording.s3_key_prefix,
            s3_encryption: self.recording.s3_encryption,
            kms_key_id: self.recording.kms_key_id,
            cloudwatch_log_group: self.recording.cloudwatch_log_group,
            cloudwatch_streaming: self.recording.cloudwatch_streaming,
        }
    }
}

/// Shell settings as the API shows them (the input's shape, plus what the broker found).
pub fn shell_out(s: &ShellSettings, preferences: &Preferences) -> serde_json::Value {
    let r = &s.recording;
    serde_json::json!({
        "enabled": s.enabled,
        "role_arn": s.role.to_string(),
        "targets": {
            "tags": s.targets.tags,
            "instance_ids": s.targets.ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
        },
        "run_as": {
            "default_user": s.run_as_default.as_ref().map(|u| u.as_str()),
            "users": s.run_as.iter().map(|(e, u)| (e.to_string(), u.as_str().to_string())).collect::<BTreeMap<_, _>>(),
        },
        "max_duration_seconds": s.max_duration.seconds(),
        "idle_timeout_minutes": s.idle_timeout_minutes,
        "recording": {
            "s3_bucket": r.s3_bucket,
            "s3_key_prefix": r.s3_key_prefix,
            "s3_encryption": r.s3_encryption,
            "kms_key_id": r.kms_key_id,
            "cloudwatch_log_group": r.cloudwatch_log_group,
            "cloudwatch_streaming": r.cloudwatch_streaming,
        },
        "trust_review": s.trust_review,
        "role_trust_policy": shared::domain::iam_policies::role_trust_policy(&s.role),
        "preferences": preferences,
    })
}

/// How provisioned users' policies followed a settings change.
pub fn policy_sync_out(sync: &shared::services::users::PolicySync) -> serde_json::Value {
    serde_json::json!({
        "updated": sync.updated.len(),
        "failed": sync.failed.iter().map(|(u, why)| serde_json::json!({ "user_name": u.to_string(), "reason": why })).collect::<Vec<_>>(),
    })
}
