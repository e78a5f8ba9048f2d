//! The account and JIT-settings items (see the key design in `mod.rs`).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{ConditionCheck, Delete, TransactWriteItem};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{B64, DynamoStore, describe, key, n, put, s, service_code, to_item, tx_delete, tx_put};
use crate::domain::{
    AccessKeyId, Account, AccountId, AccountName, AwsAccountId, JitSettings, MaxDuration, Region, RoleArn, Sealed,
    StoredCredentials,
};
use crate::ports::{AccountStore, AccountWithSettings, DeleteAccountRefusal, Page, PageRequest, StoreError, UserStore};
use base64::Engine;

const ACCOUNTS_PARTITION: &str = "ACCOUNTS";

pub(super) fn account_pk(id: &AccountId) -> String {
    format!("ACCOUNT#{id}")
}

fn registration_pk(aws: &AwsAccountId) -> String {
    format!("AWSACCOUNT#{aws}")
}

/// The stored shape of an account. Secrets are KMS ciphertext, base64-encoded.
#[derive(Debug, Serialize, Deserialize)]
struct AccountRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(rename = "GSI1PK")]
    gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    gsi1sk: String,
    entity: String,
    id: String,
    name: String,
    default_region: String,
    aws_account_id: String,
    caller_arn: String,
    credential_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role_arn: Option<String>,
    sealed_secret: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    version: u64,
    #[serde(default)]
    user_count: i64,
    #[serde(default)]
    live_session_count: i64,
    /// Where the account sits in a registered organization (written by its syncs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    org_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ou_path: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    org_state: Option<String>,
}

impl AccountRecord {
    fn from_domain(a: &Account) -> Self {
        let (access_key_id, role_arn, sealed) = match &a.credentials {
            StoredCredentials::AccessKey {
                access_key_id,
                sealed_secret,
            } => (Some(access_key_id.to_string()), None, sealed_secret),
            StoredCredentials::AssumeRole {
                role_arn,
                sealed_external_id,
            } => (None, Some(role_arn.to_string()), sealed_external_id),
        };
        AccountRecord {
            pk: account_pk(&a.id),
            sk: "ACCOUNT".into(),
            gsi1pk: ACCOUNTS_PARTITION.into(),
            gsi1sk: a.id.to_string(),
            entity: "account".into(),
            id: a.id.to_string(),
            name: a.name.to_string(),
            default_region: a.default_region.to_string(),
            aws_account_id: a.aws_account_id.to_string(),
            caller_arn: a.caller_arn.clone(),
            credential_type: a.credentials.kind().into(),
            access_key_id,
            role_arn,
            sealed_secret: B64.encode(&sealed.0),
            created_at: a.created_at,
            updated_at: a.updated_at,
            version: a.version,
            user_count: 0,
            live_session_count: 0,
            org_id: a.organization.as_ref().map(|p| p.organization.to_string()),
            ou_path: a
                .organization
                .as_ref()
                .map(|p| p.ou_path.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
            org_state: a.organization.as_ref().map(|p| p.state.as_str().to_string()),
        }
    }

    /// Stored items were validated when written; a record that no longer parses is corrupt and
    /// reported as such rather than half-read.
    fn into_domain(self) -> Result<Account, StoreError> {
        let corrupt = |what: &str| StoreError::Unavailable(format!("stored account {} is corrupt: {what}", self.id));
        let sealed = Sealed(B64.decode(&self.sealed_secret).map_err(|_| corrupt("sealed secret"))?);
        let credentials = match (self.credential_type.as_str(), &self.access_key_id, &self.role_arn) {
            ("access_key", Some(k), _) => StoredCredentials::AccessKey {
                access_key_id: AccessKeyId::parse(k).map_err(|_| corrupt("access key id"))?,
                sealed_secret: sealed,
            },
            ("assume_role", _, Some(r)) => StoredCredentials::AssumeRole {
                role_arn: RoleArn::parse(r).map_err(|_| corrupt("role arn"))?,
                sealed_external_id: sealed,
            },
            _ => return Err(corrupt("credential type")),
        };
        Ok(Account {
            id: AccountId::parse(&self.id).map_err(|_| corrupt("id"))?,
            name: AccountName::parse(&self.name).map_err(|_| corrupt("name"))?,
            default_region: Region::parse(&self.default_region).map_err(|_| corrupt("region"))?,
            aws_account_id: AwsAccountId::parse(&self.aws_account_id).map_err(|_| corrupt("aws account id"))?,
            caller_arn: self.caller_arn,
            credentials,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
            organization: match self.org_id {
                None => None,
                Some(org) => Some(crate::domain::organization::Placement {
                    organization: crate::domain::organization::OrganizationId::parse(&org)
                        .map_err(|_| corrupt("organization"))?,
                    ou_path: self
                        .ou_path
                        .iter()
                        .map(|u| crate::domain::organization::OuId::parse(u))
                        .collect::<Result<_, _>>()
                        .map_err(|_| corrupt("ou path"))?,
                    state: self
                        .org_state
                        .as_deref()
                        .and_then(crate::domain::organization::MemberState::parse)
                        .ok_or_else(|| corrupt("organization state"))?,
                }),
            },
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct RegistrationRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    account_id: String,
}

/// An ExternalId the broker issued and no registration has used yet (its digest only).
#[derive(Debug, Serialize, Deserialize)]
struct ExternalIdRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    /// Its expiry, as the table's TTL attribute.
    ttl: i64,
}

fn external_id_pk(digest: &str) -> String {
    format!("EXTERNALID#{digest}")
}

#[derive(Debug, Serialize, Deserialize)]
struct JitRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    active: bool,
    description: String,
    jit_enabled: bool,
    max_duration_seconds: u32,
    allowed_role_arns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    trust_review: Vec<crate::domain::trust::RoleTrustReview>,
}

impl DynamoStore {
    async fn account_record(&self, id: &AccountId) -> Result<Option<AccountRecord>, StoreError> {
        self.get_item(account_pk(id), "ACCOUNT").await
    }

    /// Uses up the issued ExternalId with `digest`, as a transaction item: the transaction fails
    /// (a failed condition) unless it is still issued and unexpired at `now`, so one ExternalId
    /// serves one write, however many race for it.
    pub(super) fn consume_external_id(&self, digest: &str, now: OffsetDateTime) -> TransactWriteItem {
        TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(external_id_pk(digest), "EXTERNALID")))
                    .condition_expression("attribute_exists(PK) AND #ttl > :now")
                    .expression_attribute_names("#ttl", "ttl")
                    .expression_attribute_values(":now", n(now.unix_timestamp()))
                    .build()
                    .expect("delete has table and key"),
            )
            .build()
    }

    /// Adds `delta` to the account's count of users holding AWS resources, as a transaction
    /// item (so it commits with the user's own write).
    pub(super) fn count_users(&self, id: &AccountId, delta: i64) -> TransactWriteItem {
        TransactWriteItem::builder()
            .update(
                aws_sdk_dynamodb::types::Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(account_pk(id), "ACCOUNT")))
                    .update_expression("ADD user_count :d")
                    .condition_expression("attribute_exists(PK)")
                    .expression_attribute_values(":d", n(delta))
                    .build()
                    .expect("update has table, key and expression"),
            )
            .build()
    }
}

#[async_trait]
impl AccountStore for DynamoStore {
    async fn insert(&self, account: &Account, consumes: Option<&str>) -> Result<(), StoreError> {
        let record = AccountRecord::from_domain(account);
        let registration = RegistrationRecord {
            pk: registration_pk(&account.aws_account_id),
            sk: "REGISTRATION".into(),
            entity: "registration".into(),
            account_id: account.id.to_string(),
        };
        let mut items = vec![
            tx_put(put(&self.table, to_item(&record), Some("attribute_not_exists(PK)"))),
            tx_put(put(
                &self.table,
                to_item(&registration),
                Some("attribute_not_exists(PK)"),
            )),
        ];
        if let Some(digest) = consumes {
            items.push(self.consume_external_id(digest, account.created_at));
        }
        self.transact(items).await
    }

    async fn issue_external_id(&self, digest: &str, expires_at: OffsetDateTime) -> Result<(), StoreError> {
        let item = ExternalIdRecord {
            pk: external_id_pk(digest),
            sk: "EXTERNALID".into(),
            entity: "external id".into(),
            ttl: expires_at.unix_timestamp(),
        };
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&item)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(describe(&e)))
    }

    async fn external_id_issued(&self, digest: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        Ok(self
            .get_item::<ExternalIdRecord>(external_id_pk(digest), "EXTERNALID")
            .await?
            .is_some_and(|r| r.ttl > now.unix_timestamp()))
    }

    async fn get(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        self.account_record(id)
            .await?
            .map(AccountRecord::into_domain)
            .transpose()
    }

    async fn list(&self, page: &PageRequest) -> Result<Option<Page<Account>>, StoreError> {
        let rebuild = |sort: &str| {
            let id = AccountId::parse(sort).ok()?;
            Some(key(account_pk(&id), "ACCOUNT"))
        };
        self.gsi1_page(ACCOUNTS_PARTITION, page, rebuild, AccountRecord::into_domain)
            .await
    }

    async fn update(&self, account: &Account, consumes: Option<&str>) -> Result<(), StoreError> {
        let r = AccountRecord::from_domain(account);
        // Field-by-field SET keeps the counters, which other writers own, untouched.
        let mut update = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(r.pk.clone(), "ACCOUNT")))
            .condition_expression("#version = :prev")
            .expression_attribute_values(":prev", n(account.version - 1))
            .expression_attribute_values(":v", n(account.version))
            .expression_attribute_values(":name", s(r.name))
            .expression_attribute_values(":region", s(r.default_region))
            .expression_attribute_values(":arn", s(r.caller_arn))
            .expression_attribute_values(":ctype", s(r.credential_type))
            .expression_attribute_values(":sealed", s(r.sealed_secret))
            .expression_attribute_values(
                ":updated",
                s(account
                    .updated_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .expect("formats")),
            )
            .expression_attribute_names("#name", "name")
            .expression_attribute_names("#version", "version");
        let mut set = "#version = :v, #name = :name, default_region = :region, caller_arn = :arn, \
                       credential_type = :ctype, sealed_secret = :sealed, updated_at = :updated"
            .to_string();
        let remove = match (r.access_key_id, r.role_arn) {
            (Some(k), _) => {
                set.push_str(", access_key_id = :cred");
                update = update.expression_attribute_values(":cred", s(k));
                "role_arn"
            }
            (_, Some(role)) => {
                set.push_str(", role_arn = :cred");
                update = update.expression_attribute_values(":cred", s(role));
                "access_key_id"
            }
            _ => unreachable!("from_domain sets exactly one"),
        };
        let update = update
            .update_expression(format!("SET {set} REMOVE {remove}"))
            .build()
            .expect("update has table, key and expression");
        // The new ExternalId is used up in the same write: a change that loses the race for it
        // (to a registration or another change) changes nothing.
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        if let Some(digest) = consumes {
            items.push(self.consume_external_id(digest, account.updated_at));
        }
        self.transact(items).await
    }

    async fn delete(&self, account: &Account) -> Result<Result<(), DeleteAccountRefusal>, StoreError> {
        // Re-read for the current version and counters, then delete on exactly that state; a
        // concurrent change makes the transaction fail and we look again (bounded).
        for _ in 0..3 {
            let Some(current) = self.account_record(&account.id).await? else {
                return Err(StoreError::Conflict("already deleted".into()));
            };
            // Counters are signed so a drifted (negative) one never makes the account unreadable;
            // it counts as zero.
            if current.user_count < 0 || current.live_session_count < 0 {
                tracing::warn!(account = %account.id, users = current.user_count, sessions = current.live_session_count, "a counter drifted below zero");
            }
            if current.user_count > 0 {
                return Ok(Err(DeleteAccountRefusal::HasUsers(current.user_count as u64)));
            }
            if current.live_session_count > 0 {
                return Ok(Err(DeleteAccountRefusal::HasLiveSessions(
                    current.live_session_count as u64,
                )));
            }
            let guarded = TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(account_pk(&account.id), "ACCOUNT")))
                        .condition_expression("#version = :v AND user_count <= :zero AND live_session_count <= :zero")
                        .expression_attribute_names("#version", "version")
                        .expression_attribute_values(":v", n(current.version))
                        .expression_attribute_values(":zero", n(0))
                        .build()
                        .expect("delete has table and key"),
                )
                .build();
            let aws = AwsAccountId::parse(&current.aws_account_id)
                .map_err(|_| StoreError::Unavailable("stored account is corrupt: aws account id".into()))?;
            match self
                .transact(vec![
                    guarded,
                    tx_delete(&self.table, key(account_pk(&account.id), "JIT")),
                    tx_delete(
                        &self.table,
                        key(account_pk(&account.id), super::shell_settings::SHELL_SK),
                    ),
                    tx_delete(&self.table, key(registration_pk(&aws), "REGISTRATION")),
                ])
                .await
            {
                Ok(()) => {
                    // Imported and unprovisioned records hold nothing in AWS; they go with the
                    // account. Best effort: leftovers are harmless and removed on the next try.
                    if let Err(e) = self.purge_released(&account.id).await {
                        tracing::warn!(error = %e, "purging the deleted account's user records failed");
                    }
                    return Ok(Ok(()));
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(
            "the account kept changing while being deleted; retry".into(),
        ))
    }

    async fn get_jit(&self, id: &AccountId) -> Result<Option<JitSettings>, StoreError> {
        self.get_item::<JitRecord>(account_pk(id), "JIT")
            .await?
            .map(JitRecord::into_domain)
            .transpose()
    }

    async fn get_with_settings(&self, id: &AccountId) -> Result<AccountWithSettings, StoreError> {
        let pk = account_pk(id);
        let keys = ["ACCOUNT", "JIT", super::shell_settings::SHELL_SK].map(|sk| (pk.clone(), sk.to_string()));
        let mut items = self.batch_get(&keys).await?;
        let mut take = |sk: &str| items.remove(&(pk.clone(), sk.to_string()));
        Ok(AccountWithSettings {
            account: take("ACCOUNT")
                .map(|i| super::from_item::<AccountRecord>(i)?.into_domain())
                .transpose()?,
            jit: take("JIT")
                .map(|i| super::from_item::<JitRecord>(i)?.into_domain())
                .transpose()?,
            shell: take(super::shell_settings::SHELL_SK)
                .map(super::shell_settings::shell_from_item)
                .transpose()?,
        })
    }

    async fn remember_role_max(&self, id: &AccountId, role: &RoleArn, max_seconds: u32) -> Result<(), StoreError> {
        let Some(r) = self.get_item::<JitRecord>(account_pk(id), "JIT").await? else {
            return Ok(());
        };
        let Some(at) = r.trust_review.iter().position(|t| t.role_arn == role.as_str()) else {
            return Ok(());
        };
        // Refusal after refusal keeps the same maximum: no write for it.
        if r.trust_review[at].max_session_seconds == Some(max_seconds) {
            return Ok(());
        }
        // That one entry only, and only while it is still this role's: settings saved
        // meanwhile are not written over.
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(account_pk(id), "JIT")))
            .update_expression(format!("SET trust_review[{at}].max_session_duration_seconds = :max"))
            .condition_expression(format!("trust_review[{at}].role_arn = :role"))
            .expression_attribute_values(":max", n(max_seconds))
            .expression_attribute_values(":role", s(role.as_str()))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if service_code(&e).as_deref() == Some("ConditionalCheckFailedException") => Ok(()),
            Err(e) => Err(StoreError::Unavailable(describe(&e))),
        }
    }

    async fn get_shell(&self, id: &AccountId) -> Result<Option<crate::domain::shell::ShellSettings>, StoreError> {
        self.read_shell(id).await
    }

    async fn put_shell(
        &self,
        id: &AccountId,
        settings: &crate::domain::shell::ShellSettings,
    ) -> Result<(), StoreError> {
        self.write_shell(id, settings).await
    }

    async fn put_jit(&self, id: &AccountId, settings: &JitSettings) -> Result<(), StoreError> {
        let record = JitRecord {
            pk: account_pk(id),
            sk: "JIT".into(),
            entity: "jit_settings".into(),
            active: settings.active,
            description: settings.description.clone(),
            jit_enabled: settings.jit_enabled,
            max_duration_seconds: settings.max_duration.seconds(),
            allowed_role_arns: settings.allowed_roles.iter().map(|r| r.to_string()).collect(),
            trust_review: settings.trust_review.clone(),
        };
        self.put_while_account_exists(id, to_item(&record)).await
    }
}

impl DynamoStore {
    /// Writes an item of the account's (its settings) only if the account still exists.
    pub(super) async fn put_while_account_exists(
        &self,
        id: &AccountId,
        item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    ) -> Result<(), StoreError> {
        let account_exists = TransactWriteItem::builder()
            .condition_check(
                ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(account_pk(id), "ACCOUNT")))
                    .condition_expression("attribute_exists(PK)")
                    .build()
                    .expect("check has table, key and condition"),
            )
            .build();
        self.transact(vec![account_exists, tx_put(put(&self.table, item, None))])
            .await
    }
}

impl JitRecord {
    fn into_domain(self) -> Result<JitSettings, StoreError> {
        let r = self;
        let corrupt = || StoreError::Unavailable("stored JIT settings are corrupt".into());
        Ok(JitSettings {
            active: r.active,
            description: r.description,
            jit_enabled: r.jit_enabled,
            max_duration: MaxDuration::parse(r.max_duration_seconds.into()).map_err(|_| corrupt())?,
            allowed_roles: r
                .allowed_role_arns
                .iter()
                .map(|a| RoleArn::parse(a))
                .collect::<Result<_, _>>()
                .map_err(|_| corrupt())?,
            trust_review: r.trust_review,
        })
    }
}
