//! `AccountStore` on one DynamoDB table (single-table design).
//!
//! # Key design
//!
//! Every entity lives in one table with generic keys `PK`/`SK` and two sparse global
//! secondary indexes. The `entity` attribute names the item's type.
//!
//! | entity        | PK                    | SK             | GSI1PK / GSI1SK          | GSI2PK / GSI2SK        |
//! |---------------|-----------------------|----------------|--------------------------|------------------------|
//! | account       | `ACCOUNT#<id>`        | `ACCOUNT`      | `ACCOUNTS` / `<id>`      |                        |
//! | registration  | `AWSACCOUNT#<12 dig>` | `REGISTRATION` |                          |                        |
//! | jit settings  | `ACCOUNT#<id>`        | `JIT`          |                          |                        |
//! | (reserved) IAM user, access group, member, session, idempotency key: issues 3 and 4; a live
//! |  session is indexed in GSI2 by due time so the expirer queries, never scans.            |
//!
//! Access patterns:
//! - get an account: GetItem `ACCOUNT#<id>`/`ACCOUNT`;
//! - list accounts oldest first, paginated: Query GSI1 `ACCOUNTS` (ULID ids sort by time);
//! - one registration per AWS account: the `registration` item is written in the same
//!   transaction as the account, conditional on not existing;
//! - delete only an unused account: the account item holds `user_count` and
//!   `live_session_count`, kept by the writers of users and sessions in their own
//!   transactions; the delete is conditional on both being 0.
//!
//! The `ttl` attribute (epoch seconds) is the table's TTL attribute: DynamoDB removes such items
//! eventually, so readers still check expiry themselves.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use base64::Engine;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{describe, service_code};
use crate::domain::{
    AccessKeyId, Account, AccountId, AccountName, AwsAccountId, JitSettings, MaxDuration, Region, RoleArn, Sealed,
    StoredCredentials,
};
use crate::ports::{AccountStore, DeleteAccountRefusal, Page, PageRequest, StoreError};

const ACCOUNTS_INDEX: &str = "GSI1";
const ACCOUNTS_PARTITION: &str = "ACCOUNTS";

fn account_pk(id: &AccountId) -> String {
    format!("ACCOUNT#{id}")
}

fn registration_pk(aws: &AwsAccountId) -> String {
    format!("AWSACCOUNT#{aws}")
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn key(pk: String, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("PK".to_string(), s(pk)), ("SK".to_string(), s(sk))])
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
    user_count: u64,
    #[serde(default)]
    live_session_count: u64,
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

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
}

/// The cursor handed to clients: the last id of the page, base64url-encoded so that clients
/// treat it as opaque.
#[derive(Serialize, Deserialize)]
struct Cursor {
    id: String,
}

fn encode_cursor(id: &str) -> String {
    let json = serde_json::to_vec(&Cursor { id: id.to_string() }).expect("cursor serializes");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor(raw: &str) -> Option<AccountId> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw).ok()?;
    let cursor: Cursor = serde_json::from_slice(&bytes).ok()?;
    AccountId::parse(&cursor.id).ok()
}

pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    async fn get_record(&self, id: &AccountId) -> Result<Option<AccountRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(account_pk(id), "ACCOUNT")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        out.item
            .map(|item| {
                serde_dynamo::from_item(item)
                    .map_err(|e| StoreError::Unavailable(format!("stored account is corrupt: {e}")))
            })
            .transpose()
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    service_code(&e),
                    Some("TransactionCanceledException" | "ConditionalCheckFailedException")
                ) =>
            {
                Err(StoreError::Conflict(describe(&e)))
            }
            Err(e) => Err(StoreError::Unavailable(describe(&e))),
        }
    }
}

fn to_item<T: Serialize>(record: &T) -> HashMap<String, AttributeValue> {
    serde_dynamo::to_item(record).expect("records serialize to DynamoDB maps")
}

fn put(table: &str, item: HashMap<String, AttributeValue>, condition: &str) -> TransactWriteItem {
    TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .condition_expression(condition)
                .build()
                .expect("put has table and item"),
        )
        .build()
}

fn delete(table: &str, key: HashMap<String, AttributeValue>) -> TransactWriteItem {
    TransactWriteItem::builder()
        .delete(
            Delete::builder()
                .table_name(table)
                .set_key(Some(key))
                .build()
                .expect("delete has table and key"),
        )
        .build()
}

#[async_trait]
impl AccountStore for DynamoStore {
    async fn insert(&self, account: &Account) -> Result<(), StoreError> {
        let record = AccountRecord::from_domain(account);
        let registration = RegistrationRecord {
            pk: registration_pk(&account.aws_account_id),
            sk: "REGISTRATION".into(),
            entity: "registration".into(),
            account_id: account.id.to_string(),
        };
        self.transact(vec![
            put(&self.table, to_item(&record), "attribute_not_exists(PK)"),
            put(&self.table, to_item(&registration), "attribute_not_exists(PK)"),
        ])
        .await
    }

    async fn get(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        self.get_record(id).await?.map(AccountRecord::into_domain).transpose()
    }

    async fn list(&self, page: &PageRequest) -> Result<Option<Page<Account>>, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(ACCOUNTS_INDEX)
            .key_condition_expression("GSI1PK = :p")
            .expression_attribute_values(":p", s(ACCOUNTS_PARTITION))
            .limit(page.limit as i32);
        if let Some(raw) = &page.cursor {
            let Some(after) = decode_cursor(raw) else {
                return Ok(None);
            };
            let mut start = key(account_pk(&after), "ACCOUNT");
            start.insert("GSI1PK".into(), s(ACCOUNTS_PARTITION));
            start.insert("GSI1SK".into(), s(after.to_string()));
            query = query.set_exclusive_start_key(Some(start));
        }
        let out = query.send().await.map_err(|e| StoreError::Unavailable(describe(&e)))?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                serde_dynamo::from_item::<_, AccountRecord>(item)
                    .map_err(|e| StoreError::Unavailable(format!("stored account is corrupt: {e}")))
                    .and_then(AccountRecord::into_domain)
            })
            .collect::<Result<Vec<_>, _>>()?;
        // DynamoDB returns a LastEvaluatedKey whenever the page is full, even if nothing
        // follows; the client then gets one empty page, which is harmless.
        let next_cursor = out
            .last_evaluated_key
            .and_then(|k| k.get("GSI1SK").and_then(|v| v.as_s().ok()).map(|id| encode_cursor(id)));
        Ok(Some(Page { items, next_cursor }))
    }

    async fn update(&self, account: &Account) -> Result<(), StoreError> {
        let r = AccountRecord::from_domain(account);
        // Field-by-field SET keeps the counters, which other writers own, untouched.
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(r.pk.clone(), "ACCOUNT")))
            .condition_expression("version = :prev")
            .expression_attribute_values(":prev", AttributeValue::N((account.version - 1).to_string()))
            .expression_attribute_values(":v", AttributeValue::N(account.version.to_string()))
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
        let mut set = "#version = :v, #name = :name, default_region = :region, caller_arn = :arn, credential_type = :ctype, sealed_secret = :sealed, updated_at = :updated".to_string();
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
        update = update.update_expression(format!("SET {set} REMOVE {remove}"));
        match update.send().await {
            Ok(_) => Ok(()),
            Err(e) if service_code(&e) == Some("ConditionalCheckFailedException") => {
                Err(StoreError::Conflict(describe(&e)))
            }
            Err(e) => Err(StoreError::Unavailable(describe(&e))),
        }
    }

    async fn delete(&self, account: &Account) -> Result<Result<(), DeleteAccountRefusal>, StoreError> {
        // Re-read for the current version and counters, then delete on exactly that state; a
        // concurrent change makes the transaction fail and we look again (bounded).
        for _ in 0..3 {
            let Some(current) = self.get_record(&account.id).await? else {
                return Err(StoreError::Conflict("already deleted".into()));
            };
            if current.user_count > 0 {
                return Ok(Err(DeleteAccountRefusal::HasUsers(current.user_count)));
            }
            if current.live_session_count > 0 {
                return Ok(Err(DeleteAccountRefusal::HasLiveSessions(current.live_session_count)));
            }
            let guarded = TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(account_pk(&account.id), "ACCOUNT")))
                        .condition_expression("#version = :v AND user_count = :zero AND live_session_count = :zero")
                        .expression_attribute_names("#version", "version")
                        .expression_attribute_values(":v", AttributeValue::N(current.version.to_string()))
                        .expression_attribute_values(":zero", AttributeValue::N("0".into()))
                        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::None)
                        .build()
                        .expect("delete has table and key"),
                )
                .build();
            let aws = AwsAccountId::parse(&current.aws_account_id)
                .map_err(|_| StoreError::Unavailable("stored account is corrupt: aws account id".into()))?;
            match self
                .transact(vec![
                    guarded,
                    delete(&self.table, key(account_pk(&account.id), "JIT")),
                    delete(&self.table, key(registration_pk(&aws), "REGISTRATION")),
                ])
                .await
            {
                Ok(()) => return Ok(Ok(())),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(
            "the account kept changing while being deleted; retry".into(),
        ))
    }

    async fn get_jit(&self, id: &AccountId) -> Result<Option<JitSettings>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(account_pk(id), "JIT")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let r: JitRecord = serde_dynamo::from_item(item)
            .map_err(|e| StoreError::Unavailable(format!("stored JIT settings are corrupt: {e}")))?;
        let corrupt = || StoreError::Unavailable("stored JIT settings are corrupt".into());
        Ok(Some(JitSettings {
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
        }))
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
        };
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
        let put_settings = TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(to_item(&record)))
                    .build()
                    .expect("put has table and item"),
            )
            .build();
        self.transact(vec![account_exists, put_settings]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let id = AccountId::generate();
        assert_eq!(decode_cursor(&encode_cursor(id.as_str())), Some(id));
        assert_eq!(decode_cursor("not-base64!"), None);
        assert_eq!(decode_cursor(&encode_cursor("ACCOUNT#x")), None);
    }
}
