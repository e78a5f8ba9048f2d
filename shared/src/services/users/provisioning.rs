//! Provisioning, deprovisioning and rotating one user: every step an idempotent "ensure"
//! checked against IAM, the record written before anything exists in AWS (see the parent).

use super::*;
use crate::domain::RoleArn;

impl UserService {
    /// Provisions an IAM user for a platform user. A failure rolls back; a repeat after a
    /// failure or an abandoned attempt takes the old record over and converges.
    pub async fn provision(&self, account_id: &AccountId, spec: UserSpec) -> Result<ManagedUser, ProvisionError> {
        let account = self
            .account(account_id)
            .await?
            .ok_or_else(|| ProvisionError::AccountNotFound(account_id.clone()))?;
        let previous = self.users.get(account_id, &spec.user_name).await?;
        let mut provisioning_id = ulid::Ulid::new().to_string();
        if let Some(prev) = &previous {
            match prev.status {
                UserStatus::Unprovisioned => {}
                // Keep the old id: the half-made IAM user carries it, so this attempt can adopt it.
                UserStatus::Failed => provisioning_id = prev.provisioning_id.clone(),
                UserStatus::Pending | UserStatus::Provisioning | UserStatus::Unprovisioning if self.abandoned(prev) => {
                    provisioning_id = prev.provisioning_id.clone()
                }
                UserStatus::Pending | UserStatus::Provisioning | UserStatus::Unprovisioning => {
                    return Err(ProvisionError::InProgress(spec.user_name));
                }
                UserStatus::Provisioned | UserStatus::Imported => {
                    return Err(ProvisionError::AlreadyExists(spec.user_name));
                }
            }
        }
        let now = self.clock.now();
        let user = ManagedUser {
            account_id: account_id.clone(),
            user_name: spec.user_name.clone(),
            email: Some(spec.email.clone()),
            status: UserStatus::Pending,
            arn: None,
            console_access: spec.console_access,
            wants_credential: spec.credential,
            credential: previous
                .as_ref()
                .filter(|p| p.status != UserStatus::Unprovisioned)
                .and_then(|p| p.credential.clone()),
            policies: spec.policies.clone(),
            groups: spec.groups.clone(),
            provisioning_id,
            failure: None,
            created_at: now,
            updated_at: now,
            version: previous.as_ref().map_or(1, |p| p.version + 1),
        };
        match self.users.create(&user, previous.as_ref()).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(ProvisionError::InProgress(spec.user_name)),
            Err(e) => return Err(e.into()),
        }
        self.converge(&account, user).await
    }

    async fn converge(&self, account: &Account, mut user: ManagedUser) -> Result<ManagedUser, ProvisionError> {
        user.status = UserStatus::Provisioning;
        self.save(&mut user).await?;
        let jit = self.accounts.get_jit(&account.id).await?.unwrap_or_default();
        let shell = self.accounts.get_shell(&account.id).await?;
        let roles = iam_policies::brokered_roles(&jit, shell.as_ref());
        let result = match self.connect(account).await {
            Ok(iam) => {
                let applied = self.apply(&*iam, account, &mut user, &roles).await;
                (applied, Some(iam))
            }
            Err(e) => (Err(e), None),
        };
        match result {
            (Ok(()), _) => {
                user.status = UserStatus::Provisioned;
                user.failure = None;
                self.save(&mut user).await?;
                tracing::info!(account = %account.id, user = %user.user_name, "user provisioned");
                Ok(user)
            }
            (Err((step, error)), iam) => {
                let taken = matches!(&error, CloudError::AlreadyExists(_)) && step == "create user";
                let cleanup = match &iam {
                    Some(iam) => self.remove_from_iam(&**iam, &user).await,
                    None => Err(("connect to the account".into(), error.clone())),
                };
                user.status = UserStatus::Failed;
                let outcome = match cleanup {
                    Ok(()) => {
                        user.credential = None;
                        user.arn = None;
                        user.failure = Some(format!("{step} failed: {error}; rolled back"));
                        if taken {
                            ProvisionError::NameTakenInAws(user.user_name.clone())
                        } else {
                            ProvisionError::RolledBack { step, error }
                        }
                    }
                    Err((cstep, cerr)) => {
                        let cleanup = format!("{cstep}: {cerr}");
                        user.failure = Some(format!("{step} failed: {error}; cleanup incomplete at {cleanup}"));
                        ProvisionError::Incomplete { step, error, cleanup }
                    }
                };
                tracing::warn!(account = %account.id, user = %user.user_name, failure = user.failure.as_deref(), "provisioning failed");
                if let Err(e) = self.save(&mut user).await {
                    tracing::error!(error = %e, "recording the failure failed; the record stays in provisioning until abandoned");
                }
                Err(outcome)
            }
        }
    }

    /// Makes IAM match the record, each step idempotent.
    async fn apply(
        &self,
        iam: &dyn TargetIam,
        account: &Account,
        user: &mut ManagedUser,
        roles: &[RoleArn],
    ) -> StepResult {
        let name = user.user_name.clone();
        let arn = match step("create user", iam.get_user(&name).await)? {
            Some(existing) if existing.tag(PROVISIONING_TAG) == Some(user.provisioning_id.as_str()) => existing.arn,
            Some(_) => {
                return Err((
                    "create user".into(),
                    CloudError::AlreadyExists(format!("IAM user {name} is not ours")),
                ));
            }
            None => {
                let tags = vec![
                    (MANAGED_BY_TAG.to_string(), MANAGED_BY_VALUE.to_string()),
                    (PROVISIONING_TAG.to_string(), user.provisioning_id.clone()),
                    (
                        EMAIL_TAG.to_string(),
                        user.email.as_ref().map(|e| e.to_string()).unwrap_or_default(),
                    ),
                ];
                step("create user", iam.create_user(&name, &tags).await)?
            }
        };
        user.arn = Some(arn);
        step(
            "record progress",
            self.save(user)
                .await
                .map_err(|e| CloudError::Unavailable(e.to_string())),
        )?;

        if user.console_access {
            // No standing access: the console is usable only during a session, which lifts this.
            let deny = iam_policies::session_deny_document();
            step(
                "put session deny policy",
                iam.put_inline_policy(&name, iam_policies::SESSION_DENY_POLICY, &deny)
                    .await,
            )?;
            let policy = step("read the password policy", iam.password_policy().await)?;
            // The password is set and forgotten: console sessions check out a fresh one.
            let password = crate::services::passwords::generate(policy);
            step("create login profile", iam.set_login_profile(&name, &password).await)?;
        } else if step("read login profile", iam.has_login_profile(&name).await)? {
            step("delete login profile", gone_ok(iam.delete_login_profile(&name).await))?;
        }

        let keep = user
            .credential
            .as_ref()
            .filter(|_| user.wants_credential)
            .map(|c| c.access_key_id.to_string());
        let keys = step("list access keys", iam.list_access_keys(&name).await)?;
        for key in keys.iter().filter(|k| Some(*k) != keep.as_ref()) {
            // Not recorded: left by an interrupted attempt (its secret is lost) or not wanted.
            step(
                "delete stray access key",
                gone_ok(iam.delete_access_key(&name, key).await),
            )?;
        }
        let have_key = keep.as_ref().is_some_and(|k| keys.contains(k));
        if !user.wants_credential {
            user.credential = None;
        } else if !have_key {
            self.create_credential(iam, account, user).await?;
        }

        let attached = step("list attached policies", iam.list_attached_policies(&name).await)?;
        for policy in user
            .policies
            .iter()
            .filter(|p| !attached.iter().any(|a| a == p.as_str()))
        {
            step(
                format!("attach policy {}", policy.as_str()),
                iam.attach_policy(&name, policy).await,
            )?;
        }
        for extra in attached
            .iter()
            .filter(|a| !user.policies.iter().any(|p| p.as_str() == *a))
        {
            step(
                format!("detach policy {extra}"),
                gone_ok(iam.detach_policy(&name, extra).await),
            )?;
        }

        let groups = step("list groups", iam.list_groups_for_user(&name).await)?;
        for group in user.groups.iter().filter(|g| !groups.iter().any(|x| x == g.as_str())) {
            step(
                format!("add to group {}", group.as_str()),
                iam.add_to_group(&name, group).await,
            )?;
        }
        for extra in groups.iter().filter(|x| !user.groups.iter().any(|g| g.as_str() == *x)) {
            step(
                format!("remove from group {extra}"),
                gone_ok(iam.remove_from_group(&name, extra).await),
            )?;
        }

        self.apply_jit_policy(iam, &name, roles).await
    }

    /// Creates an access key, seals its secret and records it before anything else happens; if
    /// recording fails the key is deleted again (or, after a crash, by the next pass).
    async fn create_credential(&self, iam: &dyn TargetIam, account: &Account, user: &mut ManagedUser) -> StepResult {
        let name = user.user_name.clone();
        let (key_id, secret) = step("create access key", iam.create_access_key(&name).await)?;
        let sealed = match self.sealer.seal(&secret, &SealContext::user(&account.id, &name)).await {
            Ok(s) => s,
            Err(e) => {
                let _ = iam.delete_access_key(&name, key_id.as_str()).await;
                return Err(("seal access key".into(), CloudError::Unavailable(e.to_string())));
            }
        };
        user.credential = Some(UserCredential {
            access_key_id: key_id.clone(),
            sealed_secret: sealed,
            created_at: self.clock.now(),
        });
        if let Err(e) = self.save(user).await {
            let _ = iam.delete_access_key(&name, key_id.as_str()).await;
            user.credential = None;
            return Err(("record access key".into(), CloudError::Unavailable(e.to_string())));
        }
        Ok(())
    }

    pub(super) async fn apply_jit_policy(
        &self,
        iam: &dyn TargetIam,
        name: &IamUserName,
        roles: &[RoleArn],
    ) -> StepResult {
        match iam_policies::jit_policy_document(roles) {
            Some(doc) => step(
                "put JIT policy",
                iam.put_inline_policy(name, iam_policies::JIT_POLICY, &doc).await,
            ),
            None => {
                let inline = step("list inline policies", iam.list_inline_policies(name).await)?;
                if inline.iter().any(|p| p == iam_policies::JIT_POLICY) {
                    step(
                        "delete JIT policy",
                        gone_ok(iam.delete_inline_policy(name, iam_policies::JIT_POLICY).await),
                    )?;
                }
                Ok(())
            }
        }
    }

    /// Removes the user from IAM in the order IAM requires: access keys, login profile,
    /// attached then inline policies, group memberships, then the user. Works from what IAM
    /// lists, so it also removes what a crashed attempt left unrecorded.
    async fn remove_from_iam(&self, iam: &dyn TargetIam, user: &ManagedUser) -> StepResult {
        let name = &user.user_name;
        let Some(info) = step("read user", iam.get_user(name).await)? else {
            return Ok(());
        };
        if info.tag(PROVISIONING_TAG) != Some(user.provisioning_id.as_str()) {
            // Someone else's user by that name: never touch it.
            return Ok(());
        }
        for key in step("list access keys", iam.list_access_keys(name).await)? {
            step("delete access key", gone_ok(iam.delete_access_key(name, &key).await))?;
        }
        if step("read login profile", iam.has_login_profile(name).await)? {
            step("delete login profile", gone_ok(iam.delete_login_profile(name).await))?;
        }
        for policy in step("list attached policies", iam.list_attached_policies(name).await)? {
            step(
                format!("detach policy {policy}"),
                gone_ok(iam.detach_policy(name, &policy).await),
            )?;
        }
        for policy in step("list inline policies", iam.list_inline_policies(name).await)? {
            step(
                format!("delete inline policy {policy}"),
                gone_ok(iam.delete_inline_policy(name, &policy).await),
            )?;
        }
        for group in step("list groups", iam.list_groups_for_user(name).await)? {
            step(
                format!("remove from group {group}"),
                gone_ok(iam.remove_from_group(name, &group).await),
            )?;
        }
        step("delete user", gone_ok(iam.delete_user(name).await))
    }

    /// Removes the user from AWS and keeps the record as `unprovisioned`. Converges when
    /// repeated after a failure; refuses imported users, which the broker never changes.
    pub async fn deprovision(&self, account_id: &AccountId, name: &IamUserName) -> Result<ManagedUser, UserOpError> {
        let account = self.account_or_404(account_id).await?;
        let mut user = self.user_or_404(account_id, name).await?;
        match user.status {
            UserStatus::Unprovisioned => return Ok(user),
            UserStatus::Imported => return Err(UserOpError::Imported(name.clone())),
            UserStatus::Pending | UserStatus::Provisioning | UserStatus::Unprovisioning if !self.abandoned(&user) => {
                return Err(UserOpError::InProgress(name.clone()));
            }
            _ => {}
        }
        let live = self.live_sessions(account_id, &user).await?;
        if live > 0 {
            return Err(UserOpError::HasLiveSessions {
                name: name.clone(),
                count: live,
            });
        }
        user.status = UserStatus::Unprovisioning;
        self.save(&mut user).await.map_err(|e| match e {
            StoreError::Conflict(_) => UserOpError::InProgress(name.clone()),
            e => e.into(),
        })?;
        let removed = match self.connect(&account).await {
            Ok(iam) => self.remove_from_iam(&*iam, &user).await,
            Err(e) => Err(e),
        };
        match removed {
            Ok(()) => {
                user.status = UserStatus::Unprovisioned;
                user.credential = None;
                user.failure = None;
                user.version += 1;
                user.updated_at = self.clock.now();
                self.users.release(&user).await?;
                tracing::info!(account = %account.id, user = %name, "user deprovisioned");
                Ok(user)
            }
            Err((step, error)) => {
                user.status = UserStatus::Failed;
                user.failure = Some(format!("deprovisioning: {step} failed: {error}"));
                self.save(&mut user).await?;
                Err(UserOpError::Cloud { step, error })
            }
        }
    }

    /// Creates or rotates the user's credential: the new key first, then the old one is
    /// deactivated and deleted. The secret stays sealed for the broker's own use.
    pub async fn rotate_credential(
        &self,
        account_id: &AccountId,
        name: &IamUserName,
    ) -> Result<ManagedUser, UserOpError> {
        let account = self.account_or_404(account_id).await?;
        let mut user = self.user_or_404(account_id, name).await?;
        match user.status {
            UserStatus::Provisioned => {}
            UserStatus::Imported => return Err(UserOpError::Imported(name.clone())),
            other => {
                return Err(UserOpError::NotProvisioned {
                    name: name.clone(),
                    status: other.as_str(),
                });
            }
        }
        let cloud = |(step, error)| UserOpError::Cloud { step, error };
        let iam = self.connect(&account).await.map_err(cloud)?;
        let old = user.credential.clone();
        // IAM allows two keys per user: clear strays (not the recorded one) to make room.
        let keys = step("list access keys", iam.list_access_keys(name).await).map_err(cloud)?;
        for key in keys
            .iter()
            .filter(|k| old.as_ref().is_none_or(|o| o.access_key_id.as_str() != k.as_str()))
        {
            step(
                "delete stray access key",
                gone_ok(iam.delete_access_key(name, key).await),
            )
            .map_err(cloud)?;
        }
        user.wants_credential = true;
        self.create_credential(&*iam, &account, &mut user)
            .await
            .map_err(cloud)?;
        if let Some(old) = old {
            let id = old.access_key_id.as_str();
            step(
                "deactivate old access key",
                gone_ok(iam.deactivate_access_key(name, id).await),
            )
            .map_err(cloud)?;
            step("delete old access key", gone_ok(iam.delete_access_key(name, id).await)).map_err(cloud)?;
        }
        tracing::info!(account = %account.id, user = %name, "credential rotated");
        Ok(user)
    }
}
