//! What concerns all of an account's users at once: importing unmanaged IAM users, keeping
//! the JIT policies in step with the settings, and reviewing the JIT roles' trust.

use super::*;
use crate::domain::RoleArn;

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
            if info.tag(MANAGED_BY_TAG) == Some(MANAGED_BY_VALUE) {
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

    /// Makes the account follow new JIT (or shell) settings: puts the policy allowing the
    /// brokered roles on every provisioned user, and reads each role's trust policy (the JIT
    /// roles and the shell role) to report the principals it lets in beyond those users. One
    /// account read, one user query and one connection for both. Failures per user and per
    /// role are reported, not errors.
    pub async fn follow_jit_settings(
        &self,
        account_id: &AccountId,
        jit: &JitSettings,
    ) -> Result<(PolicySync, Vec<RoleTrustReview>), UserOpError> {
        let shell = self.accounts.get_shell(account_id).await?;
        let roles = iam_policies::brokered_roles(jit, shell.as_ref());
        let mut reviewed = jit.allowed_roles.clone();
        if let Some(s) = &shell
            && !reviewed.contains(&s.role)
        {
            reviewed.push(s.role.clone());
        }
        let account = self.account_or_404(account_id).await?;
        let users: Vec<ManagedUser> = self
            .users
            .all_in(account_id)
            .await?
            .into_iter()
            .filter(|u| u.status == UserStatus::Provisioned)
            .collect();
        if users.is_empty() && reviewed.is_empty() {
            return Ok((PolicySync::default(), Vec::new()));
        }
        let iam = self.connect(&account).await;
        let sync = self.sync_jit_policies(&iam, &users, &roles).await;
        let provisioned: Vec<String> = users.into_iter().filter_map(|u| u.arn).collect();
        let review = review_role_trust(&iam, &provisioned, &reviewed).await;
        Ok((sync, review))
    }

    async fn sync_jit_policies(
        &self,
        iam: &Result<Box<dyn TargetIam>, (String, CloudError)>,
        users: &[ManagedUser],
        roles: &[RoleArn],
    ) -> PolicySync {
        let mut report = PolicySync::default();
        for user in users {
            let done = match iam {
                Err((step, e)) => Err(format!("{step}: {e}")),
                Ok(iam) => self
                    .apply_jit_policy(&**iam, &user.user_name, roles)
                    .await
                    .map_err(|(step, e)| format!("{step}: {e}")),
            };
            match done {
                Ok(()) => report.updated.push(user.user_name.clone()),
                Err(why) => report.failed.push((user.user_name.clone(), why)),
            }
        }
        report
    }
}

async fn review_role_trust(
    iam: &Result<Box<dyn TargetIam>, (String, CloudError)>,
    provisioned: &[String],
    roles: &[RoleArn],
) -> Vec<RoleTrustReview> {
    let mut out = Vec::with_capacity(roles.len());
    for role in roles {
        let review = match iam {
            Err((step, e)) => Err(format!("{step}: {e}")),
            Ok(iam) => iam.get_role(role).await.map_err(|e| format!("read the role: {e}")),
        };
        out.push(match review {
            Ok(info) => RoleTrustReview {
                role_arn: role.to_string(),
                findings: crate::domain::trust::findings(&info.trust_policy, role, provisioned),
                error: None,
                max_session_seconds: Some(info.max_session_seconds),
            },
            Err(error) => RoleTrustReview {
                role_arn: role.to_string(),
                findings: Vec::new(),
                error: Some(error),
                max_session_seconds: None,
            },
        });
    }
    out
}
