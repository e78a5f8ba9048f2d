//! The JSON shapes of the users API. No response carries a secret: credentials show only their
//! key id, and console passwords are never returned.

use serde::{Deserialize, Serialize};
use shared::domain::iam_policies::JitRoleGuide;
use shared::domain::{ManagedUser, UserSpec};
use shared::services::users::ImportReport;
use time::OffsetDateTime;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionIn {
    pub email: String,
    pub user_name: Option<String>,
    #[serde(default)]
    pub console_access: bool,
    #[serde(default)]
    pub credential: bool,
    #[serde(default)]
    pub policy_arns: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

impl ProvisionIn {
    pub fn parse(self) -> Result<UserSpec, shared::domain::Invalid> {
        UserSpec::parse(
            &self.email,
            self.user_name.as_deref(),
            self.console_access,
            self.credential,
            &self.policy_arns,
            &self.groups,
        )
    }
}

#[derive(Serialize)]
pub struct CredentialOut {
    pub access_key_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Serialize)]
pub struct JitRoleOut {
    pub role_arn: String,
    pub trust_policy_statements: Vec<serde_json::Value>,
    pub switch_role_url: String,
}

#[derive(Serialize)]
pub struct UserOut {
    pub account_id: String,
    pub user_name: String,
    pub email: Option<String>,
    pub status: &'static str,
    pub arn: Option<String>,
    pub console_access: bool,
    pub credential: Option<CredentialOut>,
    pub policy_arns: Vec<String>,
    pub groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Only on `GET /accounts/{id}/users/{name}`: what each JIT role needs to trust this user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jit_roles: Option<Vec<JitRoleOut>>,
}

impl UserOut {
    pub fn new(u: &ManagedUser) -> Self {
        UserOut {
            account_id: u.account_id.to_string(),
            user_name: u.user_name.to_string(),
            email: u.email.as_ref().map(ToString::to_string),
            status: u.status.as_str(),
            arn: u.arn.clone(),
            console_access: u.console_access,
            credential: u.credential.as_ref().map(|c| CredentialOut {
                access_key_id: c.access_key_id.to_string(),
                created_at: c.created_at,
            }),
            policy_arns: u.policies.iter().map(|p| p.as_str().to_string()).collect(),
            groups: u.groups.iter().map(|g| g.as_str().to_string()).collect(),
            failure: u.failure.clone(),
            created_at: u.created_at,
            updated_at: u.updated_at,
            jit_roles: None,
        }
    }

    pub fn with_guide(mut self, guide: Vec<JitRoleGuide>) -> Self {
        self.jit_roles = Some(
            guide
                .into_iter()
                .map(|g| JitRoleOut {
                    role_arn: g.role.to_string(),
                    trust_policy_statements: g.trust_policy_statements,
                    switch_role_url: g.switch_role_url,
                })
                .collect(),
        );
        self
    }
}

#[derive(Serialize)]
pub struct UserPage {
    pub items: Vec<UserOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Serialize)]
pub struct ImportOut {
    pub imported: Vec<UserOut>,
    pub already_known: usize,
}

impl From<&ImportReport> for ImportOut {
    fn from(r: &ImportReport) -> Self {
        ImportOut {
            imported: r.imported.iter().map(UserOut::new).collect(),
            already_known: r.already_known,
        }
    }
}
