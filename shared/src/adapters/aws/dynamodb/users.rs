//! The IAM-user items (see the key design in `mod.rs`). Users that may hold AWS resources are
//! counted on their account in the same transaction that creates or releases them, which is
//! what lets an account's deletion be refused atomically.

use async_trait::async_trait;
use base64::Engine;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::accounts::account_pk;
use super::{B64, DynamoStore, key, n, put, s, to_item, tx_put};
use crate::domain::{
    AccessKeyId, AccountId, Email, IamGroupName, IamUserName, ManagedUser, PolicyArn, Sealed, UserCredential,
    UserStatus,
};
use crate::ports::{Page, PageRequest, StoreError, UserStore};

fn user_sk(name: &IamUserName) -> String {
    format!("USER#{name}")
}

#[derive(Debug, Serialize, Deserialize)]
struct UserRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(rename = "GSI1SK", default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
    entity: String,
    account_id: String,
    user_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    arn: Option<String>,
    console_access: bool,
    wants_credential: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed_credential: Option<String>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    credential_created_at: Option<OffsetDateTime>,
    policies: Vec<String>,
    groups: Vec<String>,
    provisioning_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failure: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    version: u64,
}

impl UserRecord {
    fn from_domain(u: &ManagedUser) -> Self {
        UserRecord {
            pk: account_pk(&u.account_id),
            sk: user_sk(&u.user_name),
            gsi1pk: u.email.as_ref().map(|e| format!("EMAIL#{e}")),
            gsi1sk: u
                .email
                .as_ref()
                .map(|_| format!("USER#{}#{}", u.account_id, u.user_name)),
            entity: "iam_user".into(),
            account_id: u.account_id.to_string(),
            user_name: u.user_name.to_string(),
            email: u.email.as_ref().map(|e| e.to_string()),
            status: u.status.as_str().into(),
            arn: u.arn.clone(),
            console_access: u.console_access,
            wants_credential: u.wants_credential,
            access_key_id: u.credential.as_ref().map(|c| c.access_key_id.to_string()),
            sealed_credential: u.credential.as_ref().map(|c| B64.encode(&c.sealed_secret.0)),
            credential_created_at: u.credential.as_ref().map(|c| c.created_at),
            policies: u.policies.iter().map(|p| p.as_str().to_string()).collect(),
            groups: u.groups.iter().map(|g| g.as_str().to_string()).collect(),
            provisioning_id: u.provisioning_id.clone(),
            failure: u.failure.clone(),
            created_at: u.created_at,
            updated_at: u.updated_at,
            version: u.version,
        }
    }

    fn into_domain(self) -> Result<ManagedUser, StoreError> {
        let corrupt =
            |what: &str| StoreError::Unavailable(format!("stored user {} is corrupt: {what}", self.user_name));
        let credential = match (&self.access_key_id, &self.sealed_credential, self.credential_created_at) {
            (Some(id), Some(sealed), Some(at)) => Some(UserCredential {
                access_key_id: AccessKeyId::parse(id).map_err(|_| corrupt("access key id"))?,
                sealed_secret: Sealed(B64.decode(sealed).map_err(|_| corrupt("sealed credential"))?),
                created_at: at,
            }),
            _ => None,
        };
        Ok(ManagedUser {
            account_id: AccountId::parse(&self.account_id).map_err(|_| corrupt("account id"))?,
            user_name: IamUserName::parse(&self.user_name).map_err(|_| corrupt("name"))?,
            email: self
                .email
                .as_deref()
                .map(Email::parse)
                .transpose()
                .map_err(|_| corrupt("email"))?,
            status: UserStatus::parse(&self.status).ok_or_else(|| corrupt("status"))?,
            arn: self.arn,
            console_access: self.console_access,
            wants_credential: self.wants_credential,
            credential,
            policies: self
                .policies
                .iter()
                .map(|p| PolicyArn::parse(p))
                .collect::<Result<_, _>>()
                .map_err(|_| corrupt("policies"))?,
            groups: self
                .groups
                .iter()
                .map(|g| IamGroupName::parse(g))
                .collect::<Result<_, _>>()
                .map_err(|_| corrupt("groups"))?,
            provisioning_id: self.provisioning_id,
            failure: self.failure,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
        })
    }
}

/// The condition that `previous` is still what is stored (or, with `None`, that nothing is).
fn unchanged(previous: Option<&ManagedUser>) -> (String, Option<u64>) {
    match previous {
        None => ("attribute_not_exists(PK)".into(), None),
        Some(p) => ("version = :prev".into(), Some(p.version)),
    }
}

impl DynamoStore {
    fn user_put(&self, user: &ManagedUser, previous: Option<&ManagedUser>) -> aws_sdk_dynamodb::types::Put {
        let (condition, prev) = unchanged(previous);
        let mut p = put(&self.table, to_item(&UserRecord::from_domain(user)), Some(&condition));
        if let Some(v) = prev {
            p.expression_attribute_values = Some([(":prev".to_string(), n(v))].into());
        }
        p
    }
}

#[async_trait]
impl UserStore for DynamoStore {
    async fn create(&self, user: &ManagedUser, replacing: Option<&ManagedUser>) -> Result<(), StoreError> {
        let mut items = vec![tx_put(self.user_put(user, replacing))];
        // Count the user unless the record it replaces was counted already.
        if user.status.holds_aws_resources() && replacing.is_none_or(|p| !p.status.holds_aws_resources()) {
            items.push(self.count_users(&user.account_id, 1));
        }
        self.transact(items).await
    }

    async fn get(&self, account: &AccountId, name: &IamUserName) -> Result<Option<ManagedUser>, StoreError> {
        self.get_item::<UserRecord>(account_pk(account), &user_sk(name))
            .await?
            .map(UserRecord::into_domain)
            .transpose()
    }

    async fn list(&self, account: &AccountId, page: &PageRequest) -> Result<Option<Page<ManagedUser>>, StoreError> {
        self.prefix_page(account_pk(account), "USER#", page, UserRecord::into_domain)
            .await
    }

    async fn all_in(&self, account: &AccountId) -> Result<Vec<ManagedUser>, StoreError> {
        self.query_prefix::<UserRecord>(account_pk(account), "USER#")
            .await?
            .into_iter()
            .map(UserRecord::into_domain)
            .collect()
    }

    async fn of_email(&self, email: &Email) -> Result<Vec<ManagedUser>, StoreError> {
        self.gsi1_all::<UserRecord>(&format!("EMAIL#{email}"))
            .await?
            .into_iter()
            .map(UserRecord::into_domain)
            .collect()
    }

    async fn save(&self, user: &ManagedUser) -> Result<(), StoreError> {
        let mut previous = user.clone();
        previous.version = user.version - 1;
        self.transact(vec![tx_put(self.user_put(user, Some(&previous)))]).await
    }

    async fn release(&self, user: &ManagedUser) -> Result<(), StoreError> {
        let mut previous = user.clone();
        previous.version = user.version - 1;
        self.transact(vec![
            tx_put(self.user_put(user, Some(&previous))),
            self.count_users(&user.account_id, -1),
        ])
        .await
    }

    async fn record_imported(&self, user: &ManagedUser) -> Result<bool, StoreError> {
        let mut p = put(
            &self.table,
            to_item(&UserRecord::from_domain(user)),
            Some("attribute_not_exists(PK) OR #status = :unprovisioned"),
        );
        p.expression_attribute_names = Some([("#status".to_string(), "status".to_string())].into());
        p.expression_attribute_values = Some([(":unprovisioned".to_string(), s("unprovisioned"))].into());
        match self.transact(vec![tx_put(p)]).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn purge_released(&self, account: &AccountId) -> Result<(), StoreError> {
        for user in self.all_in(account).await? {
            if !user.status.holds_aws_resources() {
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(key(account_pk(account), &user_sk(&user.user_name))))
                    .send()
                    .await
                    .map_err(|e| StoreError::Unavailable(super::describe(&e)))?;
            }
        }
        Ok(())
    }
}
