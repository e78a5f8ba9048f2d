//! Session items (see the key design in `mod.rs`). A live session is in the sparse due index
//! (GSI2) under the time it next needs the expirer: its expiry, or for an end in progress, the
//! time its claim lapses. Ending moves it to the activity partition (`DUE#ACTIVITY`) until the
//! expirer has copied its calls from CloudTrail into its log.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use serde::Deserialize;
use time::OffsetDateTime;

use super::accounts::account_pk;
use super::session_record::SessionRecord;
use super::{DynamoStore, describe, from_item, key, n, put, s, to_item, tx_put};
use crate::domain::{AccountId, IamUserName, Session, SessionId};
use crate::ports::{Due, Page, PageRequest, SessionFilter, SessionStore, StoreError};

pub(super) const DUE_PARTITION: &str = "DUE";
/// Ended sessions waiting for their activity snapshot, in the due index apart.
pub(super) const ACTIVITY_DUE_PARTITION: &str = "DUE#ACTIVITY";
pub(super) const ALL_PARTITION: &str = "SESSIONS";

pub(super) fn session_pk(id: &SessionId) -> String {
    format!("SESSION#{id}")
}

/// One live console session per IAM user: its password is the user's only one.
fn console_lock_pk(x: &Session) -> String {
    lock_pk(&x.account_id, x.its_iam_user())
}

fn lock_pk(account: &AccountId, iam_user: &IamUserName) -> String {
    format!("CONSOLE#{account}#{iam_user}")
}

pub(super) fn due_sort(at: OffsetDateTime, id: &str) -> String {
    format!("{:012}#{id}", at.unix_timestamp().max(0))
}

impl DynamoStore {
    /// Writes live sessions in batches of 25, bypassing the per-session transaction (and the
    /// account's live count): for benchmarks and load tests that need many sessions fast.
    pub async fn seed_live_sessions(&self, sessions: &[Session]) -> Result<(), StoreError> {
        self.write_batches(
            sessions
                .iter()
                .map(|x| super::put_request(to_item(&SessionRecord::from_domain(x, Some(x.expires_at)))))
                .collect(),
        )
        .await?;
        // Keep each account's live count true, as the per-session transaction would.
        let mut per_account: std::collections::BTreeMap<String, (AccountId, i64)> = Default::default();
        for x in sessions {
            per_account
                .entry(x.account_id.to_string())
                .or_insert((x.account_id.clone(), 0))
                .1 += 1;
        }
        for (account, count) in per_account.into_values() {
            self.transact(vec![self.count_sessions(&account, count)]).await?;
        }
        Ok(())
    }

    fn count_sessions(&self, account: &AccountId, delta: i64) -> TransactWriteItem {
        TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(account_pk(account), "ACCOUNT")))
                    .update_expression("ADD live_session_count :d")
                    .condition_expression("attribute_exists(PK)")
                    .expression_attribute_values(":d", n(delta))
                    .build()
                    .expect("update has table, key and expression"),
            )
            .build()
    }

    fn versioned_put(&self, session: &Session, due: Option<OffsetDateTime>) -> TransactWriteItem {
        let mut p = put(
            &self.table,
            to_item(&SessionRecord::from_domain(session, due)),
            Some("version = :prev"),
        );
        p.expression_attribute_values = Some([(":prev".to_string(), n(session.version - 1))].into());
        tx_put(p)
    }
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn create(&self, session: &Session, due_at: Option<OffsetDateTime>) -> Result<(), StoreError> {
        let record = SessionRecord::from_domain(session, due_at);
        let mut items = vec![
            tx_put(put(&self.table, to_item(&record), Some("attribute_not_exists(PK)"))),
            self.count_sessions(&session.account_id, 1),
        ];
        if session.kind.facts().holds_its_user() {
            let lock = [
                ("PK".to_string(), s(console_lock_pk(session))),
                ("SK".to_string(), s("CONSOLE")),
                ("entity".to_string(), s("console lock")),
                ("session".to_string(), s(session.id.to_string())),
            ];
            items.push(tx_put(put(&self.table, lock.into(), Some("attribute_not_exists(PK)"))));
        }
        self.transact(items).await
    }

    async fn discard(&self, session: &Session) -> Result<(), StoreError> {
        let delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(session_pk(&session.id), "SESSION")))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", super::n(session.version))
            .build()
            .expect("a delete");
        let mut items = vec![
            aws_sdk_dynamodb::types::TransactWriteItem::builder()
                .delete(delete)
                .build(),
            self.count_sessions(&session.account_id, -1),
        ];
        if session.kind.facts().holds_its_user() {
            // Only this session's lock.
            let lock = aws_sdk_dynamodb::types::Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(console_lock_pk(session), "CONSOLE")))
                .condition_expression("#session = :id")
                .expression_attribute_names("#session", "session")
                .expression_attribute_values(":id", s(session.id.to_string()))
                .build()
                .expect("a delete");
            items.push(
                aws_sdk_dynamodb::types::TransactWriteItem::builder()
                    .delete(lock)
                    .build(),
            );
        }
        self.transact(items).await
    }

    async fn get(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        self.get_item::<SessionRecord>(session_pk(id), "SESSION")
            .await?
            .map(SessionRecord::into_domain)
            .transpose()
    }

    async fn list(&self, filter: &SessionFilter, page: &PageRequest) -> Result<Option<Page<Session>>, StoreError> {
        let (index, pk_name, sk_name, partition) = match &filter.owner {
            Some(owner) => ("GSI1", "GSI1PK", "GSI1SK", format!("SESSIONS#{owner}")),
            None => ("GSI3", "GSI3PK", "GSI3SK", ALL_PARTITION.to_string()),
        };
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression(format!("{pk_name} = :p"))
            .expression_attribute_values(":p", s(&partition))
            .scan_index_forward(false)
            .limit(page.limit as i32);
        let mut filters = Vec::new();
        if let Some(account) = &filter.account {
            filters.push("account_id = :account");
            query = query.expression_attribute_values(":account", s(account.to_string()));
        }
        if let Some(status) = filter.status {
            filters.push("#status = :status");
            query = query
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(status.as_str()));
        }
        if filter.awaiting_approval {
            filters.push("(#status = :pending OR attribute_exists(pending_extension))");
            query = query
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":pending", s(crate::domain::SessionStatus::Pending.as_str()));
        }
        if filter.unreviewed_break_glass {
            filters.push("break_glass = :bg AND attribute_not_exists(review)");
            query = query.expression_attribute_values(":bg", AttributeValue::Bool(true));
        }
        if !filters.is_empty() {
            query = query.filter_expression(filters.join(" AND "));
        }
        if let Some(raw) = &page.cursor {
            let Some(after) = super::decode_cursor(raw) else {
                return Ok(None);
            };
            let Ok(id) = SessionId::parse(&after) else {
                return Ok(None);
            };
            let mut start = key(session_pk(&id), "SESSION");
            start.insert(pk_name.into(), s(&partition));
            start.insert(sk_name.into(), s(id.to_string()));
            query = query.set_exclusive_start_key(Some(start));
        }
        let (records, next_cursor) = super::one_page::<SessionRecord>(query, sk_name).await?;
        let items = records
            .into_iter()
            .map(SessionRecord::into_domain)
            .collect::<Result<_, _>>()?;
        Ok(Some(Page { items, next_cursor }))
    }

    async fn save(&self, session: &Session, retry_at: Option<OffsetDateTime>) -> Result<(), StoreError> {
        let due = match retry_at {
            Some(at) if session.status.is_live() => Some(at),
            _ => session.due_at(),
        };
        self.transact(vec![self.versioned_put(session, due)]).await
    }

    async fn console_session_live(&self, account: &AccountId, iam_user: &IamUserName) -> Result<bool, StoreError> {
        #[derive(Deserialize)]
        struct Lock {}
        Ok(self
            .get_item::<Lock>(lock_pk(account, iam_user), "CONSOLE")
            .await?
            .is_some())
    }

    async fn finish(&self, session: &Session) -> Result<(), StoreError> {
        let mut items = vec![
            // Out of the ends' due index; into the snapshots' when its activity is due.
            self.versioned_put(session, session.due_at()),
            self.count_sessions(&session.account_id, -1),
        ];
        if session.kind.facts().holds_its_user() {
            items.push(super::tx_delete(&self.table, key(console_lock_pk(session), "CONSOLE")));
        }
        self.transact(items).await
    }

    async fn due(&self, now: OffsetDateTime, limit: u32) -> Result<Due, StoreError> {
        self.due_in(DUE_PARTITION, now, limit).await
    }

    async fn activity_due(&self, now: OffsetDateTime, limit: u32) -> Result<Due, StoreError> {
        self.due_in(ACTIVITY_DUE_PARTITION, now, limit).await
    }
    async fn lease(
        &self,
        name: &str,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let item = std::collections::HashMap::from([
            ("PK".to_string(), s(format!("LEASE#{name}"))),
            ("SK".to_string(), s("LEASE")),
            ("entity".to_string(), s("lease")),
            ("owner".to_string(), s(owner)),
            ("until".to_string(), n(until.unix_timestamp())),
            // The table's TTL removes forgotten leases eventually; `until` is what counts.
            ("ttl".to_string(), n(until.unix_timestamp() + 3600)),
        ]);
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK) OR #until < :now OR #owner = :me")
            .expression_attribute_names("#until", "until")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .expression_attribute_values(":me", s(owner))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            // Held, or being given back in a transaction (the revocation's served mark and
            // release go together; DynamoDB refuses a plain write to an item a transaction is
            // writing, and the SDK does not retry that): not got this time, asked again.
            Err(e)
                if matches!(
                    super::service_code(&e).as_deref(),
                    Some("ConditionalCheckFailedException" | "TransactionConflictException")
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(StoreError::Unavailable(describe(&e))),
        }
    }

    async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(lease_key(name)))
            .condition_expression("#owner = :me")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":me", s(owner))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if super::service_code(&e).as_deref() == Some("ConditionalCheckFailedException") => Ok(()),
            Err(e) => Err(StoreError::Unavailable(describe(&e))),
        }
    }
}

/// A lease's item key (its item: `lease`).
pub(super) fn lease_key(name: &str) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    key(format!("LEASE#{name}"), "LEASE")
}

impl DynamoStore {
    /// Items of `partition` of the due index due at `now`, at most `limit`.
    async fn due_in(&self, partition: &str, now: OffsetDateTime, limit: u32) -> Result<Due, StoreError> {
        // `~` sorts after every id, so everything due up to and including this second matches.
        let until = format!("{:012}#~", now.unix_timestamp().max(0));
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI2")
            .key_condition_expression("GSI2PK = :p AND GSI2SK <= :until")
            .expression_attribute_values(":p", s(partition))
            .expression_attribute_values(":until", s(until))
            .limit(limit as i32)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        // What DynamoDB evaluated (and bills), not just what it returned.
        let read = out.scanned_count.max(0) as usize;
        let mut due = Due { read, ..Due::default() };
        for item in out.items.unwrap_or_default() {
            let key = item
                .get("PK")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_else(|| "(no PK)".into());
            match from_item::<SessionRecord>(item).and_then(SessionRecord::into_domain) {
                Ok(session) => due.sessions.push(session),
                Err(e) => {
                    tracing::error!(key, error = %e, alarm = "expirer-undecodable", "a due item could not be decoded; skipped");
                    due.undecodable += 1;
                }
            }
        }
        Ok(due)
    }
}
