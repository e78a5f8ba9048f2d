//! An account's shell settings, and the Session Manager preferences document that follows
//! them: saved by admins, written to the account (created or updated), and read back for drift.

use std::sync::Arc;

use super::target::Targets;
use crate::domain::shell::{Drift, PREFERENCES_DOCUMENT, ShellSettings, ShellSettingsInput, drift};
use crate::domain::{Account, AccountId, Invalid};
use crate::ports::{AccountStore, CloudError, StoreError, TargetShell};

#[derive(Debug, thiserror::Error)]
pub enum ShellSettingsError {
    #[error("no account {0}")]
    NotFound(AccountId),
    #[error("account {0} has no shell settings; PUT them first")]
    NotConfigured(AccountId),
    #[error("{0}")]
    Unavailable(String),
}

impl From<StoreError> for ShellSettingsError {
    fn from(e: StoreError) -> Self {
        ShellSettingsError::Unavailable(e.to_string())
    }
}

/// The preferences document as the account holds it, against the settings.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Preferences {
    pub document: &'static str,
    pub region: String,
    /// What a save did: `created`, `updated` or `unchanged` (absent on reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    pub in_sync: bool,
    pub drift: Vec<Drift>,
    /// Why the document could not be read or written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How the account's preferences document, read once through `shell`, differs from what
/// `settings` ask for (empty: it records as they say). What a `GET` reports as `drift`, and
/// what a shell start refuses (`shell-preferences-drift`).
pub async fn document_drift(shell: &dyn TargetShell, settings: &ShellSettings) -> Result<Vec<Drift>, CloudError> {
    let current = shell.preferences().await?;
    Ok(drift(&settings.preferences(), current.as_deref()))
}

#[derive(Clone)]
pub struct ShellSettingsService {
    accounts: Arc<dyn AccountStore>,
    target: Targets,
}

impl ShellSettingsService {
    pub fn new(accounts: Arc<dyn AccountStore>, target: Targets) -> Self {
        ShellSettingsService { accounts, target }
    }

    async fn account(&self, id: &AccountId) -> Result<Account, ShellSettingsError> {
        self.accounts
            .get(id)
            .await?
            .ok_or_else(|| ShellSettingsError::NotFound(id.clone()))
    }

    /// The settings, and how the account's preferences document differs from them.
    pub async fn get(&self, id: &AccountId) -> Result<(ShellSettings, Preferences), ShellSettingsError> {
        let account = self.account(id).await?;
        let settings = self
            .accounts
            .get_shell(id)
            .await?
            .ok_or_else(|| ShellSettingsError::NotConfigured(id.clone()))?;
        let preferences = self.preferences(&account, &settings, false).await;
        Ok((settings, preferences))
    }

    /// Validates and saves the settings, then makes the preferences document match them.
    /// A document that cannot be written is reported (`error`, not in sync); saving again
    /// retries it.
    pub async fn set(
        &self,
        id: &AccountId,
        input: ShellSettingsInput,
    ) -> Result<Result<(ShellSettings, Preferences), Invalid>, ShellSettingsError> {
        let account = self.account(id).await?;
        let settings = match ShellSettings::parse(&account.aws_account_id, input) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let jit = self.accounts.get_jit(id).await?;
        // One role however spelt: `role/Ops` in JIT and `role/ops` here is still the shell role.
        if jit.is_some_and(|j| j.allowed_roles.iter().any(|r| r.identity() == settings.role.identity())) {
            return Ok(Err(Invalid::field(
                "role_arn",
                crate::domain::shell::shell_role_conflict(&settings.role),
            )));
        }
        // Saved without a trust review: the caller reviews the role it names and saves again.
        self.save(id, &settings).await?;
        let preferences = self.preferences(&account, &settings, true).await;
        Ok(Ok((settings, preferences)))
    }

    /// Stores the settings (with a new trust review).
    pub async fn save(&self, id: &AccountId, settings: &ShellSettings) -> Result<(), ShellSettingsError> {
        match self.accounts.put_shell(id, settings).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict(_)) => Err(ShellSettingsError::NotFound(id.clone())),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads the document and compares; with `write`, creates or updates it where it differs.
    async fn preferences(&self, account: &Account, settings: &ShellSettings, write: bool) -> Preferences {
        let mut out = Preferences {
            document: PREFERENCES_DOCUMENT,
            region: account.default_region.to_string(),
            status: None,
            in_sync: false,
            drift: Vec::new(),
            error: None,
        };
        let expected = settings.preferences();
        let shell = match self.target.connect_shell(account).await {
            Ok(s) => s,
            Err((step, e)) => {
                out.error = Some(format!("{step}: {e}"));
                return out;
            }
        };
        let current = match shell.preferences().await {
            Ok(c) => c,
            Err(e) => {
                out.error = Some(format!("read {PREFERENCES_DOCUMENT}: {e}"));
                return out;
            }
        };
        out.drift = drift(&expected, current.as_deref());
        if !write {
            out.in_sync = out.drift.is_empty();
            return out;
        }
        if out.drift.is_empty() {
            out.status = Some("unchanged");
            out.in_sync = true;
            return out;
        }
        let exists = current.is_some();
        match shell.put_preferences(&expected.to_string(), exists).await {
            Ok(()) => {
                out.status = Some(if exists { "updated" } else { "created" });
                out.in_sync = true;
                out.drift.clear();
            }
            Err(e) => {
                tracing::warn!(account = %account.id, error = %e, "writing the Session Manager preferences failed");
                out.error = Some(format!("write {PREFERENCES_DOCUMENT}: {e}"));
            }
        }
        out
    }
}
