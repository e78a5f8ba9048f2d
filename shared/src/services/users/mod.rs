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

mod account_wide;
mod provisioning;

use std::sync::Arc;
use std::time::Duration;

use super::target::Targets;
use crate::domain::trust::RoleTrustReview;
use crate::domain::{
    Account, AccountId, IamUserName, JitSettings, ManagedUser, UserCredential, UserSpec, UserStatus, iam_policies,
};
use crate::ports::{
    AccountStore, Clock, CloudError, Page, PageRequest, SealContext, SecretSealer, StoreError, TargetIam, UserStore,
};

pub use crate::domain::iam_policies::{MANAGED_BY_TAG, MANAGED_BY_VALUE};
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
        target: Targets,
        sealer: Arc<dyn SecretSealer>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        UserService {
            accounts,
            users,
            sessions,
            target,
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
            ..Default::default()
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
}
