//! Reaching a target account: opening its sealed credentials for one operation and
//! connecting to its IAM (or Session Manager, or CloudTrail). Users and sessions both need it, so it lives
//! beside them.

use std::sync::Arc;

use crate::domain::{Account, AccountCredentials, StoredCredentials};
use crate::ports::{
    AccountAccess, ActivityConnector, CloudError, EventHistory, IamConnector, SealContext, SecretSealer,
    ShellConnector, TargetIam, TargetShell,
};

#[derive(Clone)]
pub struct Targets {
    pub(crate) iam: Arc<dyn IamConnector>,
    pub(crate) shell: Arc<dyn ShellConnector>,
    pub(crate) sealer: Arc<dyn SecretSealer>,
    pub(crate) activity: Arc<dyn ActivityConnector>,
}

impl Targets {
    pub fn new(
        iam: Arc<dyn IamConnector>,
        shell: Arc<dyn ShellConnector>,
        sealer: Arc<dyn SecretSealer>,
        activity: Arc<dyn ActivityConnector>,
    ) -> Self {
        Targets {
            iam,
            shell,
            sealer,
            activity,
        }
    }

    /// CloudTrail event history in `region`, with an access already opened.
    pub async fn history_with(
        &self,
        access: &AccountAccess,
        region: &str,
    ) -> Result<Box<dyn EventHistory>, (String, CloudError)> {
        self.activity
            .connect(access, region)
            .await
            .map_err(|e| ("connect to the account's CloudTrail".to_string(), e))
    }

    /// Session Manager (with EC2 and S3) in the account's default region.
    pub async fn connect_shell(&self, account: &Account) -> Result<Box<dyn TargetShell>, (String, CloudError)> {
        self.shell_with(&self.opened(account).await?).await
    }

    /// The account's secret opened, the error naming the step (see `access`).
    pub async fn opened(&self, account: &Account) -> Result<AccountAccess, (String, CloudError)> {
        self.access(account)
            .await
            .map_err(|e| ("open account credentials".to_string(), CloudError::Unavailable(e)))
    }

    /// IAM with an access already opened (one secret opening for several connections).
    pub async fn iam_with(&self, access: &AccountAccess) -> Result<Box<dyn TargetIam>, (String, CloudError)> {
        self.iam
            .connect(access)
            .await
            .map_err(|e| ("connect to the account".to_string(), e))
    }

    /// Session Manager with an access already opened.
    pub async fn shell_with(&self, access: &AccountAccess) -> Result<Box<dyn TargetShell>, (String, CloudError)> {
        self.shell
            .connect(access)
            .await
            .map_err(|e| ("connect to the account".to_string(), e))
    }

    /// Opens the account's stored secret for the duration of one operation.
    pub async fn access(&self, account: &Account) -> Result<AccountAccess, String> {
        let context = SealContext::account(&account.id);
        let credentials = match &account.credentials {
            StoredCredentials::AccessKey {
                access_key_id,
                sealed_secret,
            } => AccountCredentials::AccessKey {
                access_key_id: access_key_id.clone(),
                secret_access_key: self
                    .sealer
                    .open(sealed_secret, &context)
                    .await
                    .map_err(|e| e.to_string())?,
            },
            StoredCredentials::AssumeRole {
                role_arn,
                sealed_external_id,
            } => AccountCredentials::AssumeRole {
                role_arn: role_arn.clone(),
                external_id: self
                    .sealer
                    .open(sealed_external_id, &context)
                    .await
                    .map_err(|e| e.to_string())?,
            },
        };
        Ok(AccountAccess {
            aws_account_id: account.aws_account_id.clone(),
            region: account.default_region.clone(),
            credentials,
        })
    }

    /// IAM in the account; the error names the step that failed.
    pub async fn connect(&self, account: &Account) -> Result<Box<dyn TargetIam>, (String, CloudError)> {
        self.iam_with(&self.opened(account).await?).await
    }
}
