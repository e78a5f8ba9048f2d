//! Registering AWS accounts, changing and removing them, and their JIT settings.

use std::sync::Arc;

use crate::domain::{
    Account, AccountCredentials, AccountId, AccountName, AwsAccountId, CallerIdentity, EXTERNAL_ID_VALIDITY,
    JitSettings, Region, Secret, StoredCredentials, external_id_digest, generate_external_id,
};
use crate::ports::{
    AccountStore, Clock, CredentialVerifier, DeleteAccountRefusal, Page, PageRequest, SealContext, SecretSealer,
    StoreError, VerifyError,
};

/// A new registration, already validated.
#[derive(Debug)]
pub struct RegisterAccount {
    pub name: AccountName,
    pub default_region: Region,
    pub credentials: AccountCredentials,
}

/// A partial change; `None` leaves the field as it is.
#[derive(Debug, Default)]
pub struct UpdateAccount {
    pub name: Option<AccountName>,
    pub default_region: Option<Region>,
    pub credentials: Option<AccountCredentials>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterAccountError {
    #[error("AWS rejected the credentials: {0}")]
    InvalidCredentials(String),
    #[error("AWS account {0} is already registered")]
    AlreadyRegistered(AwsAccountId),
    #[error("the credentials belong to AWS account {actual}, but the role is in {expected}")]
    AccountMismatch {
        expected: AwsAccountId,
        actual: AwsAccountId,
    },
    /// The broker's own AWS account: a broker admin who is not an AWS admin could otherwise
    /// reach the broker's table, keys and logs through it (a confused deputy).
    #[error(
        "AWS account {0} is the broker's own: registering it would let broker admins act on the broker's own resources (its table, keys and logs) through it"
    )]
    OwnAccount(AwsAccountId),
    /// The ExternalId was not one the broker issued (or it was used, or it expired): the
    /// broker picks ExternalIds, so no admin can reuse one another customer's role trusts.
    #[error(
        "the external_id is not one this broker issued for a registration, or it was already used or expired (7 days); ask for one with POST /accounts/external-ids and put it in the role's trust policy"
    )]
    ExternalIdNotIssued,
    #[error("{0}")]
    Unavailable(String),
}

/// A fresh ExternalId, for the trust policy of the role a registration will name.
#[derive(Debug)]
pub struct IssuedExternalId {
    pub external_id: Secret,
    pub expires_at: time::OffsetDateTime,
    /// The AWS account the broker runs in: the principal the role's trust names.
    pub broker_account: Option<AwsAccountId>,
    /// The ARN pattern of the broker's own principals in that account: the trust's condition
    /// on `aws:PrincipalArn`, so no other principal of the account is let in.
    pub broker_principal: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GetAccountError {
    #[error("no account {0}")]
    NotFound(AccountId),
    #[error("{0}")]
    Unavailable(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ListAccountsError {
    #[error("the cursor is not one this API returned")]
    BadCursor,
    #[error("{0}")]
    Unavailable(String),
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateAccountError {
    #[error("no account {0}")]
    NotFound(AccountId),
    #[error("AWS rejected the credentials: {0}")]
    InvalidCredentials(String),
    #[error("the new credentials belong to AWS account {actual}, but this registration is for {expected}")]
    AccountMismatch {
        expected: AwsAccountId,
        actual: AwsAccountId,
    },
    #[error("the account was changed by another request; read it again and retry")]
    Conflict,
    #[error(
        "the external_id is neither this account's current one nor one this broker issued (unused, within 7 days); ask for one with POST /accounts/external-ids"
    )]
    ExternalIdNotIssued,
    #[error("{0}")]
    Unavailable(String),
}

#[derive(Debug, thiserror::Error)]
pub enum DeleteAccountError {
    #[error("no account {0}")]
    NotFound(AccountId),
    #[error("the account is in use: {0}; deprovision its users and end its sessions first")]
    InUse(DeleteAccountRefusal),
    #[error("{0}")]
    Unavailable(String),
}

#[derive(Debug, thiserror::Error)]
pub enum JitSettingsError {
    #[error("no account {0}")]
    NotFound(AccountId),
    /// Two allowed role ARNs name one IAM role (`JitSettings::role_listed_twice`).
    #[error(
        "allowed_role_arns[{first}] and allowed_role_arns[{second}] name the same IAM role (role names are unique regardless of case, and the path is not part of the name); list it once"
    )]
    DuplicateRole { first: usize, second: usize },
    #[error("{0}")]
    Unavailable(String),
}

impl From<StoreError> for GetAccountError {
    fn from(e: StoreError) -> Self {
        GetAccountError::Unavailable(e.to_string())
    }
}

/// The account use cases, over the ports they need.
#[derive(Clone)]
pub struct AccountService {
    store: Arc<dyn AccountStore>,
    verifier: Arc<dyn CredentialVerifier>,
    sealer: Arc<dyn SecretSealer>,
    clock: Arc<dyn Clock>,
    /// The AWS account the broker runs in, which is never registered.
    own_account: Option<AwsAccountId>,
    /// The broker's own principals there (an ARN pattern), which issued trust policies name.
    own_principal: Option<String>,
    /// The role name (a pattern with `*`) the broker may assume in registered accounts: the
    /// template allows it no other (`TargetRoleName`).
    target_role_name: String,
}

impl AccountService {
    pub fn new(
        store: Arc<dyn AccountStore>,
        verifier: Arc<dyn CredentialVerifier>,
        sealer: Arc<dyn SecretSealer>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        AccountService {
            store,
            verifier,
            sealer,
            clock,
            own_account: None,
            own_principal: None,
            target_role_name: "*".into(),
        }
    }

    /// Registers only roles whose name matches `pattern`, which the template lets it assume.
    pub fn assuming_only(mut self, pattern: &str) -> Self {
        self.target_role_name = pattern.to_string();
        self
    }

    /// A role the broker may not assume, said before AWS is asked (which would refuse it too).
    fn role_not_assumable(&self, credentials: &AccountCredentials) -> Option<String> {
        match credentials {
            AccountCredentials::AssumeRole { role_arn, .. } if !role_arn.name_matches(&self.target_role_name) => {
                Some(format!(
                    "the broker may assume only roles named {} in registered accounts (the template's TargetRoleName), not {role_arn}",
                    self.target_role_name
                ))
            }
            _ => None,
        }
    }

    /// The AWS account the broker runs in, if known.
    pub fn own_account(&self) -> Option<&AwsAccountId> {
        self.own_account.as_ref()
    }

    /// Refuses to register `own`, the AWS account the broker runs in.
    pub fn refusing_own_account(mut self, own: Option<AwsAccountId>) -> Self {
        self.own_account = own;
        self
    }

    /// Issues trust policies that let in only `principal` (an ARN pattern: the broker's own
    /// roles), not every principal of the broker's account allowed `sts:AssumeRole`.
    pub fn trusted_as(mut self, principal: Option<String>) -> Self {
        self.own_principal = principal;
        self
    }

    /// Issues an ExternalId for one registration (AWS's confused-deputy guidance: the third
    /// party generates a unique one per customer). Only its digest is stored, for 7 days.
    pub async fn issue_external_id(&self) -> Result<IssuedExternalId, GetAccountError> {
        let external_id = generate_external_id();
        let expires_at = self.clock.now() + EXTERNAL_ID_VALIDITY;
        self.store
            .issue_external_id(&external_id_digest(&external_id), expires_at)
            .await?;
        tracing::info!(%expires_at, "ExternalId issued for a registration");
        Ok(IssuedExternalId {
            external_id,
            expires_at,
            broker_account: self.own_account.clone(),
            broker_principal: self.own_principal.clone(),
        })
    }

    /// The digest of the issued ExternalId `credentials` use, checked before AWS is asked.
    async fn issued_digest(&self, credentials: &AccountCredentials) -> Result<Option<String>, IssueCheck> {
        let AccountCredentials::AssumeRole { external_id, .. } = credentials else {
            return Ok(None);
        };
        let digest = external_id_digest(external_id);
        match self.store.external_id_issued(&digest, self.clock.now()).await {
            Ok(true) => Ok(Some(digest)),
            Ok(false) => Err(IssueCheck::NotIssued),
            Err(e) => Err(IssueCheck::Unavailable(e.to_string())),
        }
    }

    /// Checks the credentials with AWS, then seals and stores them. Nothing is written
    /// unless AWS accepted them. A role's ExternalId must be one the broker issued; the
    /// registration uses it up in the same write.
    pub async fn register(&self, cmd: RegisterAccount) -> Result<Account, RegisterAccountError> {
        if let Some(why) = self.role_not_assumable(&cmd.credentials) {
            return Err(RegisterAccountError::InvalidCredentials(why));
        }
        let consumes = self.issued_digest(&cmd.credentials).await.map_err(|e| match e {
            IssueCheck::NotIssued => RegisterAccountError::ExternalIdNotIssued,
            IssueCheck::Unavailable(m) => RegisterAccountError::Unavailable(m),
        })?;
        self.register_checked(cmd, consumes, None).await
    }

    /// Registers a member of a registered organization through the role the organization's
    /// StackSet deploys, trusting the ExternalId the organization's registration used up.
    pub async fn register_member(
        &self,
        cmd: RegisterAccount,
        placement: crate::domain::organization::Placement,
    ) -> Result<Account, RegisterAccountError> {
        if let Some(why) = self.role_not_assumable(&cmd.credentials) {
            return Err(RegisterAccountError::InvalidCredentials(why));
        }
        self.register_checked(cmd, None, Some(placement)).await
    }

    async fn register_checked(
        &self,
        cmd: RegisterAccount,
        consumes: Option<String>,
        organization: Option<crate::domain::organization::Placement>,
    ) -> Result<Account, RegisterAccountError> {
        let identity = self
            .verify(&cmd.credentials, &cmd.default_region)
            .await
            .map_err(|e| match e {
                VerifyError::Rejected(m) => RegisterAccountError::InvalidCredentials(m),
                VerifyError::Unavailable(m) => RegisterAccountError::Unavailable(m),
            })?;
        check_role_account(&cmd.credentials, &identity)
            .map_err(|(expected, actual)| RegisterAccountError::AccountMismatch { expected, actual })?;
        if self.own_account.as_ref() == Some(&identity.aws_account_id) {
            return Err(RegisterAccountError::OwnAccount(identity.aws_account_id));
        }
        let id = AccountId::generate();
        let credentials = self
            .seal(&id, &cmd.credentials)
            .await
            .map_err(|e| RegisterAccountError::Unavailable(e.to_string()))?;
        let now = self.clock.now();
        let account = Account {
            id,
            name: cmd.name,
            default_region: cmd.default_region,
            aws_account_id: identity.aws_account_id.clone(),
            caller_arn: identity.arn,
            credentials,
            created_at: now,
            updated_at: now,
            version: 1,
            organization,
        };
        match self.store.insert(&account, consumes.as_deref()).await {
            Ok(()) => Ok(account),
            Err(StoreError::Conflict(_)) => match &consumes {
                // Used by a concurrent registration (or expired) since the check above.
                Some(digest)
                    if !self
                        .store
                        .external_id_issued(digest, now)
                        .await
                        .map_err(|e| RegisterAccountError::Unavailable(e.to_string()))? =>
                {
                    Err(RegisterAccountError::ExternalIdNotIssued)
                }
                _ => Err(RegisterAccountError::AlreadyRegistered(identity.aws_account_id)),
            },
            Err(e) => Err(RegisterAccountError::Unavailable(e.to_string())),
        }
    }

    pub async fn get(&self, id: &AccountId) -> Result<Account, GetAccountError> {
        self.store
            .get(id)
            .await?
            .ok_or_else(|| GetAccountError::NotFound(id.clone()))
    }

    pub async fn list(&self, page: &PageRequest) -> Result<Page<Account>, ListAccountsError> {
        self.store
            .list(page)
            .await
            .map_err(|e| ListAccountsError::Unavailable(e.to_string()))?
            .ok_or(ListAccountsError::BadCursor)
    }

    /// Applies a partial change. New credentials are checked with AWS and must belong to the
    /// same AWS account: users and sessions already refer to it.
    pub async fn update(&self, id: &AccountId, change: UpdateAccount) -> Result<Account, UpdateAccountError> {
        let mut account = self.get(id).await.map_err(|e| match e {
            GetAccountError::NotFound(id) => UpdateAccountError::NotFound(id),
            GetAccountError::Unavailable(m) => UpdateAccountError::Unavailable(m),
        })?;
        if let Some(name) = change.name {
            account.name = name;
        }
        if let Some(region) = change.default_region {
            account.default_region = region;
        }
        let mut consumes = None;
        if let Some(credentials) = change.credentials {
            if let Some(why) = self.role_not_assumable(&credentials) {
                return Err(UpdateAccountError::InvalidCredentials(why));
            }
            // Keeping the account's own ExternalId is always allowed (a new role name, say);
            // a different one must be freshly issued, as at registration.
            if !self.is_current_external_id(&account, &credentials).await? {
                consumes = self.issued_digest(&credentials).await.map_err(|e| match e {
                    IssueCheck::NotIssued => UpdateAccountError::ExternalIdNotIssued,
                    IssueCheck::Unavailable(m) => UpdateAccountError::Unavailable(m),
                })?;
            }
            let identity = self
                .verify(&credentials, &account.default_region)
                .await
                .map_err(|e| match e {
                    VerifyError::Rejected(m) => UpdateAccountError::InvalidCredentials(m),
                    VerifyError::Unavailable(m) => UpdateAccountError::Unavailable(m),
                })?;
            if identity.aws_account_id != account.aws_account_id {
                return Err(UpdateAccountError::AccountMismatch {
                    expected: account.aws_account_id,
                    actual: identity.aws_account_id,
                });
            }
            check_role_account(&credentials, &identity)
                .map_err(|(expected, actual)| UpdateAccountError::AccountMismatch { expected, actual })?;
            account.credentials = self
                .seal(&account.id, &credentials)
                .await
                .map_err(|e| UpdateAccountError::Unavailable(e.to_string()))?;
            account.caller_arn = identity.arn;
        }
        let now = self.clock.now();
        account.updated_at = now;
        account.version += 1;
        // A new ExternalId is used up in the same write as the change, as at registration: of
        // two writes racing for one issued id (changes or a registration), one wins.
        match self.store.update(&account, consumes.as_deref()).await {
            Ok(()) => Ok(account),
            Err(StoreError::Conflict(_)) => match &consumes {
                Some(digest)
                    if !self
                        .store
                        .external_id_issued(digest, now)
                        .await
                        .map_err(|e| UpdateAccountError::Unavailable(e.to_string()))? =>
                {
                    Err(UpdateAccountError::ExternalIdNotIssued)
                }
                _ => Err(UpdateAccountError::Conflict),
            },
            Err(e) => Err(UpdateAccountError::Unavailable(e.to_string())),
        }
    }

    /// Whether `credentials` keep the ExternalId `account` already uses (compared so that the
    /// time taken says nothing about the stored one: `Secret::same_as`).
    async fn is_current_external_id(
        &self,
        account: &Account,
        credentials: &AccountCredentials,
    ) -> Result<bool, UpdateAccountError> {
        let (
            AccountCredentials::AssumeRole { external_id, .. },
            StoredCredentials::AssumeRole { sealed_external_id, .. },
        ) = (credentials, &account.credentials)
        else {
            return Ok(false);
        };
        let current = self
            .sealer
            .open(sealed_external_id, &SealContext::account(&account.id))
            .await
            .map_err(|e| UpdateAccountError::Unavailable(e.to_string()))?;
        Ok(current.same_as(external_id))
    }

    pub async fn delete(&self, id: &AccountId) -> Result<(), DeleteAccountError> {
        let account = self.get(id).await.map_err(|e| match e {
            GetAccountError::NotFound(id) => DeleteAccountError::NotFound(id),
            GetAccountError::Unavailable(m) => DeleteAccountError::Unavailable(m),
        })?;
        match self.store.delete(&account).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(refusal)) => Err(DeleteAccountError::InUse(refusal)),
            // Deleted by a concurrent request between our read and write: the outcome the
            // caller asked for holds.
            Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(DeleteAccountError::Unavailable(e.to_string())),
        }
    }

    /// The account's JIT settings; the disabled defaults when never configured.
    /// Keeps the trust review made after saving the settings.
    pub async fn record_trust_review(&self, id: &AccountId, settings: &JitSettings) -> Result<(), JitSettingsError> {
        self.store
            .put_jit(id, settings)
            .await
            .map_err(|e| JitSettingsError::Unavailable(e.to_string()))
    }

    pub async fn jit_settings(&self, id: &AccountId) -> Result<JitSettings, JitSettingsError> {
        self.existing(id).await?;
        self.store
            .get_jit(id)
            .await
            .map(Option::unwrap_or_default)
            .map_err(|e| JitSettingsError::Unavailable(e.to_string()))
    }

    /// Replaces the JIT settings. `parse` receives the account's AWS account id, since
    /// allowed roles must live in that account.
    pub async fn set_jit_settings(
        &self,
        id: &AccountId,
        parse: impl FnOnce(&AwsAccountId) -> Result<JitSettings, crate::domain::Invalid>,
    ) -> Result<Result<JitSettings, crate::domain::Invalid>, JitSettingsError> {
        let account = self.existing(id).await?;
        let settings = match parse(&account.aws_account_id) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        if let Some((first, second)) = settings.role_listed_twice() {
            return Err(JitSettingsError::DuplicateRole { first, second });
        }
        let shell = self
            .store
            .get_shell(id)
            .await
            .map_err(|e| JitSettingsError::Unavailable(e.to_string()))?;
        if let Some(shell) = shell
            && settings
                .allowed_roles
                .iter()
                .any(|r| r.identity() == shell.role.identity())
        {
            return Ok(Err(crate::domain::Invalid::field(
                "allowed_role_arns",
                crate::domain::shell::shell_role_conflict(&shell.role),
            )));
        }
        match self.store.put_jit(id, &settings).await {
            Ok(()) => Ok(Ok(settings)),
            Err(StoreError::Conflict(_)) => Err(JitSettingsError::NotFound(id.clone())),
            Err(e) => Err(JitSettingsError::Unavailable(e.to_string())),
        }
    }

    async fn existing(&self, id: &AccountId) -> Result<Account, JitSettingsError> {
        self.get(id).await.map_err(|e| match e {
            GetAccountError::NotFound(id) => JitSettingsError::NotFound(id),
            GetAccountError::Unavailable(m) => JitSettingsError::Unavailable(m),
        })
    }

    async fn verify(&self, credentials: &AccountCredentials, region: &Region) -> Result<CallerIdentity, VerifyError> {
        let identity = self.verifier.verify(credentials, region).await?;
        tracing::info!(aws_account_id = %identity.aws_account_id, caller_arn = %identity.arn, "credentials verified");
        Ok(identity)
    }

    async fn seal(
        &self,
        id: &AccountId,
        credentials: &AccountCredentials,
    ) -> Result<StoredCredentials, crate::ports::SealError> {
        let context = SealContext::account(id);
        Ok(match credentials {
            AccountCredentials::AccessKey {
                access_key_id,
                secret_access_key,
            } => StoredCredentials::AccessKey {
                access_key_id: access_key_id.clone(),
                sealed_secret: self.sealer.seal(secret_access_key, &context).await?,
            },
            AccountCredentials::AssumeRole { role_arn, external_id } => StoredCredentials::AssumeRole {
                role_arn: role_arn.clone(),
                sealed_external_id: self.sealer.seal(external_id, &context).await?,
            },
        })
    }
}

/// Why an ExternalId could not be used.
enum IssueCheck {
    NotIssued,
    Unavailable(String),
}

/// A role's ARN names its account; the identity STS reports after assuming it must match, or
/// the registration would describe one account and reach another.
fn check_role_account(
    credentials: &AccountCredentials,
    identity: &CallerIdentity,
) -> Result<(), (AwsAccountId, AwsAccountId)> {
    match credentials {
        AccountCredentials::AssumeRole { role_arn, .. } if role_arn.account() != &identity.aws_account_id => {
            Err((role_arn.account().clone(), identity.aws_account_id.clone()))
        }
        _ => Ok(()),
    }
}
