//! What concerns all of an account's users at once: importing unmanaged IAM users, keeping
//! the JIT policies in step with the settings, and reviewing the JIT roles' trust.

use super::*;

impl UserService {
    /// Records the account's IAM users that the broker does not manage as `imported`.
    pub async fn import(&self, account_id: &AccountId) -> Result<ImportReport, UserOpError> {
        let account = self.account_or_404(account_id).await?;
        let cloud = |(step, error)| UserOpError::Cloud { step, error };
        let iam = self.connect(&account).await.map_err(cloud)?;
        let listed = step("list users", iam.list_users().await).map_err(cloud)?;
        let mut report = ImportReport::default();
        let now = self.clock.now();
        for info in listed {
            let Ok(name) = IamUserName::parse(&info.name) else {
                continue;
            };
            if info.tag(MANAGED_BY_TAG) == Some("cloud-iam-broker") {
                report.already_known += 1;
                continue;
            }
            let user = ManagedUser {
                account_id: account_id.clone(),
                user_name: name,
                email: None,
                status: UserStatus::Imported,
                arn: Some(info.arn),
                console_access: false,
                wants_credential: false,
                credential: None,
                policies: Vec::new(),
                groups: Vec::new(),
                provisioning_id: String::new(),
                failure: None,
                created_at: now,
                updated_at: now,
                version: 1,
            };
            if self.users.record_imported(&user).await? {
                report.imported.push(user);
            } else {
                report.already_known += 1;
            }
        }
        tracing::info!(account = %account.id, imported = report.imported.len(), "import finished");
        Ok(report)
    }

    /// Reads each allowed role's trust policy and reports the principals it lets in beyond the
    /// account's provisioned users. A role that cannot be read is reported, not an error.
    pub async fn review_role_trust(
        &self,
        account_id: &AccountId,
        jit: &JitSettings,
    ) -> Result<Vec<RoleTrustReview>, UserOpError> {
        let account = self.account_or_404(account_id).await?;
        if jit.allowed_roles.is_empty() {
            return Ok(Vec::new());
        }
        let provisioned: Vec<String> = self
            .users
            .all_in(account_id)
            .await?
            .into_iter()
            .filter(|u| u.status == UserStatus::Provisioned)
            .filter_map(|u| u.arn)
            .collect();
        let iam = self.connect(&account).await;
        let mut out = Vec::with_capacity(jit.allowed_roles.len());
        for role in &jit.allowed_roles {
            let review = match &iam {
                Err((step, e)) => Err(format!("{step}: {e}")),
                Ok(iam) => iam.get_role(role).await.map_err(|e| format!("read the role: {e}")),
            };
            out.push(match review {
                Ok(info) => RoleTrustReview {
                    role_arn: role.to_string(),
                    findings: crate::domain::trust::findings(&info.trust_policy, &provisioned),
                    error: None,
                },
                Err(error) => RoleTrustReview {
                    role_arn: role.to_string(),
                    findings: Vec::new(),
                    error: Some(error),
                },
            });
        }
        Ok(out)
    }

    /// Puts the new JIT settings' policy on every provisioned user of the account.
    pub async fn sync_jit_policies(
        &self,
        account_id: &AccountId,
        jit: &JitSettings,
    ) -> Result<PolicySync, UserOpError> {
        let account = self.account_or_404(account_id).await?;
        let users: Vec<ManagedUser> = self
            .users
            .all_in(account_id)
            .await?
            .into_iter()
            .filter(|u| u.status == UserStatus::Provisioned)
            .collect();
        let mut report = PolicySync::default();
        if users.is_empty() {
            return Ok(report);
        }
        let iam = match self.connect(&account).await {
            Ok(iam) => iam,
            Err((step, e)) => {
                report.failed = users
                    .into_iter()
                    .map(|u| (u.user_name, format!("{step}: {e}")))
                    .collect();
                return Ok(report);
            }
        };
        for user in users {
            match self.apply_jit_policy(&*iam, &user.user_name, jit).await {
                Ok(()) => report.updated.push(user.user_name),
                Err((step, e)) => report.failed.push((user.user_name, format!("{step}: {e}"))),
            }
        }
        Ok(report)
    }
}
