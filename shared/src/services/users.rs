//! IAM users in registered accounts: provisioning, deprovisioning, credential rotation,
//! import, and the least-privilege JIT policy each provisioned user carries.
//!
//! # Crash safety
//!
//! The record is written (status `pending`) before anything exists in AWS, and each step is an
//! idempotent "ensure" checked against IAM's actual state, not against our records. So:
//! - a failure rolls back by listing what really exists in IAM and removing it;
//! - a crash leaves a record in `pending`/`provisioning`/`unprovisioning`; once abandoned (older
//!   than `ABANDONED_AFTER`), a new request takes it over and converges;
//! - an access key created just before a crash is not recorded, and the next pass deletes it.
//!
//! The IAM user is tagged with the record's provisioning id; the broker only adopts or deletes
//! a user carrying its own tag, never a stranger's.

use std::sync::Arc;
use std::time::Duration;

use super::target::Targets;
use crate::domain::trust::RoleTrustReview;
use crate::domain::{
    Account, AccountId, IamUserName, JitSettings, ManagedUser, UserCredential, UserSpec, UserStatus, iam_policies,
};
use crate::ports::{
    AccountAccess, AccountStore, Clock, CloudError, IamConnector, Page, PageRequest, SealContext, SecretSealer,
    StoreError, TargetIam, UserStore,
};

pub const MANAGED_BY_TAG: &str = "cloud-iam-broker:managed-by";
pub const PROVISIONING_TAG: &str = "cloud-iam-broker:provisioning-id";
pub const EMAIL_TAG: &str = "cloud-iam-broker:email";
/// An operation whose record has not moved for this long was abandoned (functions time out
/// after 29 s), so another request may take it over.
pub const ABANDONED_AFTER: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("no account {0}")]
    AccountNotFound(AccountId),
    #[error("user {0} already exists in this account")]
    AlreadyExists(IamUserName),
    #[error("an IAM user named {0} exists that this broker did not create; import it or choose another name")]
    NameTakenInAws(IamUserName),
    #[error("user {0} is being changed by another request; retry shortly")]
    InProgress(IamUserName),
    #[error("{step} failed: {error}; everything created was rolled back")]
    RolledBack { step: String, error: CloudError },
    #[error("{step} failed: {error}; cleaning up also failed ({cleanup}); retry or DELETE the user to finish")]
    Incomplete {
        step: String,
        error: CloudError,
        cleanup: String,
    },
    #[error("{0}")]
    Unavailable(String),
}

#[derive(Debug, thiserror::Error)]
pub enum UserOpError {
    #[error("no account {0}")]
    AccountNotFound(AccountId),
    #[error("no user {0} in this account")]
    NotFound(IamUserName),
    #[error("user {0} is imported: the broker does not manage it")]
    Imported(IamUserName),
    #[error("user {name} is {status}, not provisioned")]
    NotProvisioned { name: IamUserName, status: &'static str },
    #[error("user {0} is being changed by another request; retry shortly")]
    InProgress(IamUserName),
    #[error(
        "user {name} has {count} live session(s) here; end them first (DELETE /sessions/{{id}}) so their access is revoked"
    )]
    HasLiveSessions { name: IamUserName, count: usize },
    #[error("{step} failed: {error}; retry to finish")]
    Cloud { step: String, error: CloudError },
    #[error("the cursor is not one this API returned")]
    BadCursor,
    #[error("{0}")]
    Unavailable(String),
}

impl From<StoreError> for UserOpError {
    fn from(e: StoreError) -> Self {
        UserOpError::Unavailable(e.to_string())
    }
}

impl From<StoreError> for ProvisionError {
    fn from(e: StoreError) -> Self {
        ProvisionError::Unavailable(e.to_string())
    }
}

/// What an import found.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub imported: Vec<ManagedUser>,
    /// IAM users the broker already knew (managed or imported before).
    pub already_known: usize,
}

/// How keeping users' JIT policies in step with new settings went.
#[derive(Debug, Default)]
pub struct PolicySync {
    pub updated: Vec<IamUserName>,
    /// Users whose policy could not be updated, with why; the next settings change or
    /// provisioning pass retries them.
    pub failed: Vec<(IamUserName, String)>,
}

#[derive(Clone)]
pub struct UserService {
    accounts: Arc<dyn AccountStore>,
    users: Arc<dyn UserStore>,
    sessions: Arc<dyn crate::ports::SessionStore>,
    target: Targets,
    sealer: Arc<dyn SecretSealer>,
    clock: Arc<dyn Clock>,
}

type StepResult = Result<(), (String, CloudError)>;

fn step<T>(name: impl Into<String>, r: Result<T, CloudError>) -> Result<T, (String, CloudError)> {
    r.map_err(|e| (name.into(), e))
}

/// Deleting something already gone is success: the state we want holds.
fn gone_ok(r: Result<(), CloudError>) -> Result<(), CloudError> {
    match r {
        Err(CloudError::NotFound(_)) => Ok(()),
        other => other,
    }
}

impl UserService {
    pub fn new(
        accounts: Arc<dyn AccountStore>,
        users: Arc<dyn UserStore>,
        sessions: Arc<dyn crate::ports::SessionStore>,
        iam: Arc<dyn IamConnector>,
        sealer: Arc<dyn SecretSealer>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        UserService {
            accounts,
            users,
            sessions,
            target: Targets::new(iam, sealer.clone()),
            sealer,
            clock,
        }
    }

    /// The user's live sessions on the account: removing the IAM user would not revoke the
    /// temporary credentials they hold, so they must be ended first.
    async fn live_sessions(&self, account: &AccountId, user: &ManagedUser) -> Result<usize, StoreError> {
        let Some(email) = &user.email else { return Ok(0) };
        let filter = crate::ports::SessionFilter {
            owner: Some(email.clone()),
            account: Some(account.clone()),
            status: None,
        };
        let mut page = PageRequest {
            limit: 100,
            cursor: None,
        };
        let mut live = 0;
        loop {
            let Some(p) = self.sessions.list(&filter, &page).await? else {
                return Ok(live);
            };
            live += p.items.iter().filter(|s| s.status.is_live()).count();
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(live),
            }
        }
    }

    fn abandoned(&self, user: &ManagedUser) -> bool {
        (self.clock.now() - user.updated_at).unsigned_abs() > ABANDONED_AFTER
    }

    /// Opens the account's stored secret for the duration of one operation.
    pub async fn access(&self, account: &Account) -> Result<AccountAccess, String> {
        self.target.access(account).await
    }

    async fn connect(&self, account: &Account) -> Result<Box<dyn TargetIam>, (String, CloudError)> {
        self.target.connect(account).await
    }

    async fn account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        self.accounts.get(id).await
    }

    async fn account_or_404(&self, id: &AccountId) -> Result<Account, UserOpError> {
        self.account(id)
            .await?
            .ok_or_else(|| UserOpError::AccountNotFound(id.clone()))
    }

    async fn user_or_404(&self, account: &AccountId, name: &IamUserName) -> Result<ManagedUser, UserOpError> {
        self.users
            .get(account, name)
            .await?
            .ok_or_else(|| UserOpError::NotFound(name.clone()))
    }

    async fn save(&self, user: &mut ManagedUser) -> Result<(), StoreError> {
        user.version += 1;
        user.updated_at = self.clock.now();
        self.users.save(user).await
    }

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
        let result = match self.connect(account).await {
            Ok(iam) => {
                let applied = self.apply(&*iam, account, &mut user, &jit).await;
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
        jit: &JitSettings,
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
                    (MANAGED_BY_TAG.to_string(), "cloud-iam-broker".to_string()),
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
            let password = super::passwords::generate(policy);
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

        self.apply_jit_policy(iam, &name, jit).await
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

    async fn apply_jit_policy(&self, iam: &dyn TargetIam, name: &IamUserName, jit: &JitSettings) -> StepResult {
        match iam_policies::jit_policy_document(jit) {
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

    pub async fn get(&self, account_id: &AccountId, name: &IamUserName) -> Result<ManagedUser, UserOpError> {
        self.account_or_404(account_id).await?;
        self.users
            .get(account_id, name)
            .await?
            .ok_or_else(|| UserOpError::NotFound(name.clone()))
    }

    pub async fn list(&self, account_id: &AccountId, page: &PageRequest) -> Result<Page<ManagedUser>, UserOpError> {
        self.account_or_404(account_id).await?;
        self.users.list(account_id, page).await?.ok_or(UserOpError::BadCursor)
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
