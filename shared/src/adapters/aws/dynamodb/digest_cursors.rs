//! The digest cursor of an account (`ACCOUNT#<id>` / `DIGESTS`): up to when its session logs
//! are digested, and the newest digest's key and signature, moved by a conditional write so that
//! two expirer runs cannot both extend the chain from the same digest.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::accounts::account_pk;
use super::{DynamoStore, describe, service_code, to_item};
use crate::domain::AccountId;
use crate::domain::evidence::DigestLink;
use crate::ports::{DigestCursor, DigestCursors, StoreError};

const SK: &str = "DIGESTS";

#[derive(Serialize, Deserialize)]
struct CursorRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    /// Unix seconds.
    digested_until: i64,
    last_key: Option<String>,
    last_signature: Option<String>,
}

#[async_trait]
impl DigestCursors for DynamoStore {
    async fn cursor(&self, account: &AccountId) -> Result<Option<DigestCursor>, StoreError> {
        let Some(r) = self.get_item::<CursorRecord>(account_pk(account), SK).await? else {
            return Ok(None);
        };
        let digested_until = OffsetDateTime::from_unix_timestamp(r.digested_until)
            .map_err(|_| StoreError::Unavailable("stored digest cursor is corrupt".into()))?;
        let last = match (r.last_key, r.last_signature) {
            (Some(key), Some(signature)) => Some(DigestLink { key, signature }),
            _ => None,
        };
        Ok(Some(DigestCursor { digested_until, last }))
    }

    async fn advance(
        &self,
        account: &AccountId,
        expected: Option<&DigestCursor>,
        next: &DigestCursor,
    ) -> Result<(), StoreError> {
        let record = CursorRecord {
            pk: account_pk(account),
            sk: SK.into(),
            entity: "digest_cursor".into(),
            digested_until: next.digested_until.unix_timestamp(),
            last_key: next.last.as_ref().map(|l| l.key.clone()),
            last_signature: next.last.as_ref().map(|l| l.signature.clone()),
        };
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&record)));
        put = match expected {
            None => put.condition_expression("attribute_not_exists(PK)"),
            Some(e) => put
                .condition_expression("digested_until = :until")
                .expression_attribute_values(":until", super::n(e.digested_until.unix_timestamp())),
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) if service_code(&e).as_deref() == Some("ConditionalCheckFailedException") => {
                Err(StoreError::Conflict(describe(&e)))
            }
            Err(e) => Err(StoreError::Unavailable(describe(&e))),
        }
    }
}
