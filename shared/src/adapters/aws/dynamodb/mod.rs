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
//! | issued ExternalId | `EXTERNALID#<sha256>` | `EXTERNALID` | (TTL: 7 days)           |                        |
//! | jit settings  | `ACCOUNT#<id>`        | `JIT`          |                          |                        |
//! | IAM user      | `ACCOUNT#<id>`        | `USER#<name>`  | `EMAIL#<e-mail>` / `USER#<account>#<name>` |      |
//! | access group  | `GROUP#<id>`          | `GROUP`        | `GROUPS` / `<id>`        |                        |
//! | group name    | `GROUPNAME#<folded>`  | `GROUPNAME`    |                          |                        |
//! | membership    | `GROUP#<id>`          | `MEMBER#<e-mail>` | `MEMBER#<e-mail>` / `GROUP#<id>` |              |
//! | idempotency   | `IDEMPOTENCY#<sha256(scope, key)>` | `IDEMPOTENCY` |                      |                        |
//! | Slack link    | `SLACKUSER#<id>`      | `SLACKUSER`    | `SLACKUSERS` / `<id>`    |                        |
//! | session       | `SESSION#<id>`        | `SESSION`      | `SESSIONS#<e-mail>` / `<id>` | `DUE` / `<epoch>#<id>` (live or pending); `DUE#ACTIVITY` / `<epoch>#<id>` (ended, activity not yet copied) |
//! |               |                       |                | GSI3: `SESSIONS` / `<id>` |                       |
//! | revocations   | `REVOCATIONS#<role identity>` | `REVOCATIONS` |                    |                        |
//! | console lock  | `CONSOLE#<account>#<IAM user>` | `CONSOLE` |                        |                        |
//! | identity      | `IDENTITY#<sha256(issuer, subject)>` | `IDENTITY` |                  |                        |
//! | identity e-mail | `IDENTITYEMAIL#<e-mail>` | `IDENTITY` |                        |                        |
//! | refusal count | `REFUSALS#<day>#<caller hash>` | `REFUSALS` | (TTL: 35 days)      |                        |
//! | seen request  | `SEEN#<sha256(use)>`  | `SEEN`         | (TTL: see below)         |                        |
//! | organization  | `ORG#<o-id>`          | `ORG`          | `ORGS` / `<o-id>`        |                        |
//! | its OU        | `ORG#<o-id>`          | `UNIT#<ou-id>` |                          |                        |
//! | its member    | `ORG#<o-id>`          | `MEMBER#<12 digits>` |                    |                        |
//!
//! Access patterns:
//! - get an account: GetItem `ACCOUNT#<id>`/`ACCOUNT`;
//! - list accounts oldest first, paginated: Query GSI1 `ACCOUNTS` (ULID ids sort by time);
//! - one registration per AWS account: the `registration` item is written in the same
//!   transaction as the account, conditional on not existing;
//! - an ExternalId serves one write: the `issued ExternalId` item is deleted in the transaction
//!   of the registration or credentials change that uses it, conditional on existing and being
//!   unexpired;
//! - an account's users: Query `ACCOUNT#<id>` with `SK` beginning `USER#`;
//! - a platform user's IAM users across accounts: Query GSI1 `EMAIL#<e-mail>`;
//! - list groups: Query GSI1 `GROUPS`; a group's members: Query `GROUP#<id>`, `SK` `MEMBER#…`;
//! - a user's groups: Query GSI1 `MEMBER#<e-mail>`, then get each group;
//! - a user's sessions, newest first: Query GSI1 `SESSIONS#<e-mail>`; everyone's: Query GSI3;
//! - sessions due for the expirer: Query GSI2 `DUE` up to now; only live (and pending) sessions
//!   are in it (sparse), so a run reads the due items and nothing else: never a scan; ended
//!   sessions whose activity is not yet copied into their log: Query GSI2 `DUE#ACTIVITY` up to
//!   now, apart, so that no backlog of copies ever stands between the expirer and an end;
//! - a role's revocations (the authority its deny policies are rendered from): GetItem, strongly
//!   consistent, written with a version condition; keyed by the role's identity
//!   (`RoleArn::identity`: `arn:<partition>:iam::<account>:role/<name, lowercased>`, no path), so
//!   every spelling of one role shares one record; a record from before, keyed by the ARN as
//!   typed, is read when the identity's is absent and carried over at the next write;
//! - one live console session per IAM user: the `console lock` is written in the session's
//!   create transaction (conditional on not existing) and deleted when it finishes;
//! - unique group names: a `group name` marker written in the group's transactions;
//! - one e-mail per person: the `identity` and `identity e-mail` items are written together,
//!   each conditional on not existing (first use binds), and deleted together (admin release);
//! - a signed Slack request is accepted once, and the chat-ops worker runs each job and each
//!   session event once: a `seen request` item, keyed by the hash of `slack:<hash of the signed
//!   timestamp and body>`, `job:<job id>` or `event:<event id>`, is written conditional on not
//!   existing, and expires past Slack's replay window (requests) or after 5 days (the worker's);
//! - a Slack link is stored `pending` by an admin and confirmed by a put conditional on its
//!   e-mail being unchanged (a link without a status predates confirmation and counts as
//!   confirmed);
//! - an organization with its tree: Query `ORG#<o-id>` (every page); every organization:
//!   Query GSI1 `ORGS`; a sync writes only the unit and member items that changed, then the
//!   organization item; an account's place in it is three attributes of the account item
//!   (`org_id`, `ou_path`, `org_state`) that only syncs write;
//! - delete only an unused account: the account item holds `user_count` and
//!   `live_session_count`, kept by the writers of users and sessions in their own
//!   transactions; the delete is conditional on both being 0.
//!
//! The `ttl` attribute (epoch seconds) is the table's TTL attribute: DynamoDB removes such items
//! eventually, so readers still check expiry themselves.

mod accounts;
mod chatops;
mod digest_cursors;
mod groups;
mod idempotency;
mod identities;
mod organizations;
mod pickups;
mod revocations;
mod session_record;
mod sessions;
mod shell_settings;
mod users;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, PutRequest, TransactWriteItem, WriteRequest};
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::{describe, service_code};
use crate::ports::{Page, PageRequest, StoreError};

/// Implements every storage port on one table.
pub struct DynamoStore {
    client: super::LazyClient<aws_sdk_dynamodb::Client>,
    table: String,
}

impl DynamoStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client: super::LazyClient::ready(client),
            table: table.into(),
        }
    }

    /// The client is created on the first call (see `LazyClient`).
    pub fn lazy(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        let sdk = sdk.clone();
        DynamoStore {
            client: super::LazyClient::new(move || aws_sdk_dynamodb::Client::new(&sdk)),
            table: table.into(),
        }
    }

    /// Writes `items` in one transaction. `Conflict` only when a condition failed; a
    /// transaction another one in flight cancelled (`TransactionConflict`) wrote nothing and is
    /// sent again, a few times, before the store is called unavailable, as is any other
    /// cancellation (throttling, validation, size limits): none of those says the state differs
    /// from what the caller read.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        let request = self.client.transact_write_items().set_transact_items(Some(items));
        let mut pauses = TRANSACTION_CONFLICT_PAUSES.iter();
        loop {
            let e = match request.clone().send().await {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let why = match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    cancellation(c.cancellation_reasons().iter().map(|r| r.code()))
                }
                _ if service_code(&e).as_deref() == Some("ConditionalCheckFailedException") => {
                    Cancelled::ConditionFailed
                }
                _ => Cancelled::Other,
            };
            match (why, pauses.next()) {
                (Cancelled::ConditionFailed, _) => return Err(StoreError::Conflict(describe(&e))),
                (Cancelled::InFlight, Some(pause)) => tokio::time::sleep(*pause).await,
                _ => return Err(StoreError::Unavailable(describe(&e))),
            }
        }
    }

    async fn get_item<T: for<'de> Deserialize<'de>>(&self, pk: String, sk: &str) -> Result<Option<T>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        out.item.map(from_item).transpose()
    }

    /// Items by key in one round trip (BatchGetItem, consistent reads, 100 keys a request),
    /// asking again for any DynamoDB left unprocessed; keyed by `(PK, SK)`, missing ones absent.
    async fn batch_get(
        &self,
        keys: &[(String, String)],
    ) -> Result<HashMap<(String, String), HashMap<String, AttributeValue>>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut wanted: Vec<&(String, String)> = keys.iter().collect();
        wanted.sort();
        wanted.dedup();
        let mut found = HashMap::new();
        for chunk in wanted.chunks(100) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.iter().map(|(pk, sk)| key(pk.clone(), sk)).collect()))
                    .consistent_read(true)
                    .build()
                    .expect("keys are set"),
            );
            // Bounded: DynamoDB returns unprocessed keys only under throttling or size limits.
            for _ in 0..8 {
                let Some(request) = pending.take() else { break };
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| StoreError::Unavailable(describe(&e)))?;
                for item in out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    let part = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                    found.insert((part("PK"), part("SK")), item);
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys.is_empty());
            }
            if pending.is_some() {
                return Err(StoreError::Unavailable("DynamoDB left keys unprocessed".into()));
            }
        }
        Ok(found)
    }

    /// A query for a partition's items whose sort key starts with `prefix`.
    fn prefix_query(&self, pk: &str, prefix: &str) -> QueryBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
    }

    /// A query for one GSI1 partition.
    fn gsi1_query(&self, partition: &str) -> QueryBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name("GSI1")
            .key_condition_expression("GSI1PK = :p")
            .expression_attribute_values(":p", s(partition))
    }

    /// Every item of a partition whose sort key starts with `prefix` (all pages).
    async fn query_prefix<T: for<'de> Deserialize<'de>>(&self, pk: String, prefix: &str) -> Result<Vec<T>, StoreError> {
        all_pages(self.prefix_query(&pk, prefix).consistent_read(true)).await
    }

    /// One page of a partition's items whose sort key starts with `prefix`, from an opaque
    /// cursor, each record turned into its domain value. `Ok(None)` for a bad cursor.
    async fn prefix_page<T: for<'de> Deserialize<'de>, U>(
        &self,
        pk: String,
        prefix: &str,
        page: &PageRequest,
        into_domain: impl Fn(T) -> Result<U, StoreError>,
    ) -> Result<Option<Page<U>>, StoreError> {
        let mut query = self.prefix_query(&pk, prefix).limit(page.limit as i32);
        if let Some(raw) = page.cursor.as_deref() {
            let Some(after) = decode_cursor(raw).filter(|a| a.starts_with(prefix)) else {
                return Ok(None);
            };
            query = query.set_exclusive_start_key(Some(key(pk, &after)));
        }
        Ok(Some(domain_page(one_page(query, "SK").await?, into_domain)?))
    }

    /// Every item of a GSI1 partition (all pages).
    async fn gsi1_all<T: for<'de> Deserialize<'de>>(&self, partition: &str) -> Result<Vec<T>, StoreError> {
        all_pages(self.gsi1_query(partition)).await
    }

    /// Deletes an item; `Ok(false)` when there was none.
    async fn delete_existing(&self, pk: String, sk: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    /// One page of a GSI1 partition, from an opaque cursor. `Ok(None)` for a bad cursor.
    async fn gsi1_page<T: for<'de> Deserialize<'de>, U>(
        &self,
        partition: &str,
        page: &PageRequest,
        rebuild_key: impl Fn(&str) -> Option<HashMap<String, AttributeValue>>,
        into_domain: impl Fn(T) -> Result<U, StoreError>,
    ) -> Result<Option<Page<U>>, StoreError> {
        let mut query = self.gsi1_query(partition).limit(page.limit as i32);
        if let Some(raw) = page.cursor.as_deref() {
            let Some(sort) = decode_cursor(raw) else {
                return Ok(None);
            };
            let Some(mut start) = rebuild_key(&sort) else {
                return Ok(None);
            };
            start.insert("GSI1PK".into(), s(partition));
            start.insert("GSI1SK".into(), s(&sort));
            query = query.set_exclusive_start_key(Some(start));
        }
        Ok(Some(domain_page(one_page(query, "GSI1SK").await?, into_domain)?))
    }
}

impl DynamoStore {
    /// Writes `requests` 25 at a time, sending again what DynamoDB leaves unprocessed.
    pub(super) async fn write_batches(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        let mut requests = requests;
        while !requests.is_empty() {
            let rest = requests.split_off(requests.len().min(25));
            let mut chunk = std::mem::replace(&mut requests, rest);
            // Bounded: DynamoDB hands items back only under throttling.
            for _ in 0..8 {
                if chunk.is_empty() {
                    break;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, chunk)
                    .send()
                    .await
                    .map_err(|e| StoreError::Unavailable(describe(&e)))?;
                chunk = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
                    .unwrap_or_default();
            }
            if !chunk.is_empty() {
                return Err(StoreError::Unavailable("DynamoDB left writes unprocessed".into()));
            }
        }
        Ok(())
    }
}

pub(super) fn put_request(item: HashMap<String, AttributeValue>) -> WriteRequest {
    WriteRequest::builder()
        .put_request(PutRequest::builder().set_item(Some(item)).build().expect("an item"))
        .build()
}

/// Waits before sending a transaction again that another transaction in flight cancelled.
const TRANSACTION_CONFLICT_PAUSES: [std::time::Duration; 3] = [
    std::time::Duration::from_millis(25),
    std::time::Duration::from_millis(100),
    std::time::Duration::from_millis(250),
];

/// Why DynamoDB cancelled a transaction.
#[derive(Debug, PartialEq, Eq)]
enum Cancelled {
    /// A condition of one of its items failed: the state is not what the caller read.
    ConditionFailed,
    /// Only other transactions in flight on its items: nothing is known about the state.
    InFlight,
    /// Anything else (throttling, validation, size limits, no reasons given).
    Other,
}

/// Reads a `TransactionCanceledException`'s reasons, one per item in order, the code `None`
/// for items that did not cause it (TransactWriteItems, "CancellationReasons":
/// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
fn cancellation<'a>(codes: impl IntoIterator<Item = Option<&'a str>>) -> Cancelled {
    let causes: Vec<&str> = codes.into_iter().flatten().filter(|c| *c != "None").collect();
    if causes.contains(&"ConditionalCheckFailed") {
        Cancelled::ConditionFailed
    } else if !causes.is_empty() && causes.iter().all(|c| *c == "TransactionConflict") {
        Cancelled::InFlight
    } else {
        Cancelled::Other
    }
}

type QueryBuilder = aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;

/// Runs a query for one page: its items, and the opaque cursor for the next (from the page's
/// last `sort_attr`).
async fn one_page<T: for<'de> Deserialize<'de>>(
    query: QueryBuilder,
    sort_attr: &str,
) -> Result<(Vec<T>, Option<String>), StoreError> {
    let out = query.send().await.map_err(|e| StoreError::Unavailable(describe(&e)))?;
    let items = out
        .items
        .unwrap_or_default()
        .into_iter()
        .map(from_item)
        .collect::<Result<Vec<T>, _>>()?;
    let next = out
        .last_evaluated_key
        .and_then(|k| k.get(sort_attr).and_then(|v| v.as_s().ok()).map(|v| encode_cursor(v)));
    Ok((items, next))
}

/// A page of records as a page of domain values.
fn domain_page<T, U>(
    (records, next_cursor): (Vec<T>, Option<String>),
    into_domain: impl Fn(T) -> Result<U, StoreError>,
) -> Result<Page<U>, StoreError> {
    let items = records.into_iter().map(into_domain).collect::<Result<_, _>>()?;
    Ok(Page { items, next_cursor })
}

/// Runs a query to the end, following DynamoDB's pages.
async fn all_pages<T: for<'de> Deserialize<'de>>(query: QueryBuilder) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = query
            .clone()
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        for item in page.items.unwrap_or_default() {
            out.push(from_item(item)?);
        }
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return Ok(out),
        }
    }
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(pk: String, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("PK".to_string(), s(pk)), ("SK".to_string(), s(sk))])
}

fn to_item<T: Serialize>(record: &T) -> HashMap<String, AttributeValue> {
    serde_dynamo::to_item(record).expect("records serialize to DynamoDB maps")
}

fn from_item<T: for<'de> Deserialize<'de>>(item: HashMap<String, AttributeValue>) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Unavailable(format!("a stored item is corrupt: {e}")))
}

/// One key for two caller-chosen strings, which may hold any character: a hash of the first's
/// length, the first, and the second, so no pair can name another's item.
fn unambiguous_key(first: &str, second: &str) -> String {
    let bytes = [
        &(first.len() as u64).to_be_bytes()[..],
        first.as_bytes(),
        second.as_bytes(),
    ]
    .concat();
    crate::domain::log_chain::sha256_hex(&bytes)
}

fn put(table: &str, item: HashMap<String, AttributeValue>, condition: Option<&str>) -> Put {
    Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_string))
        .build()
        .expect("put has table and item")
}

fn tx_put(put: Put) -> TransactWriteItem {
    TransactWriteItem::builder().put(put).build()
}

fn tx_delete(table: &str, key: HashMap<String, AttributeValue>) -> TransactWriteItem {
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

/// The cursor handed to clients: the GSI sort key of the last item, base64url-encoded so
/// that clients treat it as opaque.
#[derive(Serialize, Deserialize)]
struct Cursor {
    after: String,
}

fn encode_cursor(sort: &str) -> String {
    let json = serde_json::to_vec(&Cursor {
        after: sort.to_string(),
    })
    .expect("cursor serializes");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor(raw: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw).ok()?;
    serde_json::from_slice::<Cursor>(&bytes).ok().map(|c| c.after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor("01ABC")), Some("01ABC".to_string()));
        assert_eq!(decode_cursor("not-base64!"), None);
        assert_eq!(decode_cursor("e30"), None);
    }

    #[test]
    fn only_a_failed_condition_cancels_as_a_conflict() {
        let of = |codes: &[Option<&str>]| cancellation(codes.iter().copied());
        assert_eq!(
            of(&[Some("None"), Some("ConditionalCheckFailed")]),
            Cancelled::ConditionFailed
        );
        assert_eq!(
            of(&[Some("TransactionConflict"), Some("ConditionalCheckFailed")]),
            Cancelled::ConditionFailed
        );
        assert_eq!(of(&[Some("None"), Some("TransactionConflict")]), Cancelled::InFlight);
        for other in ["ValidationError", "ItemCollectionSizeLimitExceeded", "ThrottlingError"] {
            assert_eq!(of(&[Some(other), Some("None")]), Cancelled::Other, "{other}");
        }
        assert_eq!(
            of(&[Some("TransactionConflict"), Some("ThrottlingError")]),
            Cancelled::Other
        );
        // No reasons (an endpoint that gives none) say nothing about the state.
        assert_eq!(of(&[]), Cancelled::Other);
        assert_eq!(of(&[None, Some("None")]), Cancelled::Other);
    }
}
