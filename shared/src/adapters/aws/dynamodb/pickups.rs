//! Pickup items: the sealed one-time answer of an approved request, held for its requester
//! (`PICKUP#<session>`), taken by a delete that returns it, so only one reader ever gets it.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use base64::Engine;
use time::OffsetDateTime;

use super::{B64, DynamoStore, describe, key, n, s};
use crate::domain::{Sealed, SessionId};
use crate::ports::{PickupStore, StoreError};

fn pk(session: &SessionId) -> String {
    format!("PICKUP#{session}")
}

#[async_trait]
impl PickupStore for DynamoStore {
    async fn hold(&self, session: &SessionId, sealed: &Sealed, expires_at: OffsetDateTime) -> Result<(), StoreError> {
        let mut item = key(pk(session), "PICKUP");
        item.insert("entity".into(), s("pickup"));
        item.insert("sealed".into(), s(B64.encode(&sealed.0)));
        item.insert("expires_at".into(), n(expires_at.unix_timestamp()));
        // The table's TTL removes what nobody took; `expires_at` is what `take` honours.
        item.insert("ttl".into(), n(expires_at.unix_timestamp()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        Ok(())
    }

    async fn take(&self, session: &SessionId) -> Result<Option<Sealed>, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk(session), "PICKUP")))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        let Some(item) = out.attributes else {
            return Ok(None);
        };
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let live = item
            .get("expires_at")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .is_some_and(|t| t > now);
        let sealed = item
            .get("sealed")
            .and_then(|v| v.as_s().ok())
            .and_then(|v| B64.decode(v).ok())
            .ok_or_else(|| StoreError::Unavailable(format!("pickup of {session} is corrupt")))?;
        Ok(live.then_some(Sealed(sealed)))
    }
}
