//! Idempotency-key items: the first request with a key runs; repeats get its stored answer.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{DynamoStore, describe, key, n, put, s, service_code, to_item};
use crate::ports::{IdempotencyClaim, IdempotencyStore, StoreError, StoredResponse};

/// How long a key is remembered (the TTL attribute removes it eventually after that).
const REMEMBER_SECONDS: i64 = 24 * 3600;
/// A claim older than this whose request never completed was abandoned (a function crashed).
const ABANDONED_SECONDS: i64 = 300;

/// Scopes and keys may hold `#` (a subject is the identity provider's to choose): the item key
/// is a hash of both, length-prefixed, so no (scope, key) pair can name another's record.
fn pk(scope: &str, key: &str) -> String {
    format!("IDEMPOTENCY#{}", super::unambiguous_key(scope, key))
}

#[derive(Debug, Serialize, Deserialize)]
struct ClaimRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    fingerprint: String,
    state: String,
    started_at: i64,
    ttl: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<String>,
}

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn claim(
        &self,
        scope: &str,
        key_value: &str,
        fingerprint: &str,
        now: OffsetDateTime,
    ) -> Result<IdempotencyClaim, StoreError> {
        let now = now.unix_timestamp();
        let record = ClaimRecord {
            pk: pk(scope, key_value),
            sk: "IDEMPOTENCY".into(),
            entity: "idempotency_key".into(),
            fingerprint: fingerprint.into(),
            state: "in_progress".into(),
            started_at: now,
            ttl: now + REMEMBER_SECONDS,
            status: None,
            body: None,
        };
        // Take the key if it is new, expired (TTL deletion is lazy) or abandoned.
        let mut p = put(
            &self.table,
            to_item(&record),
            Some("attribute_not_exists(PK) OR #ttl < :now OR (#state = :running AND started_at < :abandoned)"),
        );
        p.expression_attribute_names = Some(
            [
                ("#ttl".to_string(), "ttl".to_string()),
                ("#state".to_string(), "state".to_string()),
            ]
            .into(),
        );
        p.expression_attribute_values = Some(
            [
                (":now".to_string(), n(now)),
                (":running".to_string(), s("in_progress")),
                (":abandoned".to_string(), n(now - ABANDONED_SECONDS)),
            ]
            .into(),
        );
        let req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(p.item))
            .set_condition_expression(p.condition_expression)
            .set_expression_attribute_names(p.expression_attribute_names)
            .set_expression_attribute_values(p.expression_attribute_values);
        match req.send().await {
            Ok(_) => return Ok(IdempotencyClaim::Claimed),
            Err(e) if service_code(&e).as_deref() == Some("ConditionalCheckFailedException") => {}
            Err(e) => return Err(StoreError::Unavailable(describe(&e))),
        }
        let Some(existing) = self
            .get_item::<ClaimRecord>(pk(scope, key_value), "IDEMPOTENCY")
            .await?
        else {
            // Released between our write and read: the caller may simply retry.
            return Ok(IdempotencyClaim::InProgress);
        };
        Ok(
            match (
                existing.fingerprint == fingerprint,
                existing.state.as_str(),
                existing.status,
                existing.body,
            ) {
                (false, _, _, _) => IdempotencyClaim::Mismatch,
                (true, "completed", Some(status), Some(body)) => {
                    IdempotencyClaim::Replay(StoredResponse { status, body })
                }
                _ => IdempotencyClaim::InProgress,
            },
        )
    }

    async fn complete(&self, scope: &str, key_value: &str, response: &StoredResponse) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk(scope, key_value), "IDEMPOTENCY")))
            .update_expression("SET #state = :done, #status = :status, body = :body")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":done", s("completed"))
            .expression_attribute_values(":status", n(response.status))
            .expression_attribute_values(":body", s(&response.body))
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        Ok(())
    }

    async fn release(&self, scope: &str, key_value: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk(scope, key_value), "IDEMPOTENCY")))
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::pk;

    #[test]
    fn scope_and_key_cannot_be_confused() {
        assert_ne!(pk("alice#x", "k"), pk("alice", "x#k"));
        assert_eq!(pk("alice", "k"), pk("alice", "k"));
    }
}
