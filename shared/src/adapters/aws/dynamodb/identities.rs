//! Identity bindings, seen Slack requests and refusal counts (see the key design in `mod.rs`).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{DynamoStore, describe, key, put, s, service_code, to_item, tx_put, unambiguous_key};
use crate::domain::Email;
use crate::domain::log_chain::sha256_hex;
use crate::ports::{IdentityStore, ReplayGuard, StoreError};

const SK: &str = "IDENTITY";

/// Issuers and subjects may hold any character.
fn identity_pk(issuer: &str, subject: &str) -> String {
    format!("IDENTITY#{}", unambiguous_key(issuer, subject))
}

fn email_pk(email: &Email) -> String {
    format!("IDENTITYEMAIL#{email}")
}

#[derive(Debug, Serialize, Deserialize)]
struct BindingRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    issuer: String,
    subject: String,
    email: String,
}

#[async_trait]
impl IdentityStore for DynamoStore {
    async fn bind(&self, issuer: &str, subject: &str, email: &Email) -> Result<(), StoreError> {
        let record = |pk: String, entity: &str| BindingRecord {
            pk,
            sk: SK.into(),
            entity: entity.into(),
            issuer: issuer.into(),
            subject: subject.into(),
            email: email.to_string(),
        };
        let absent = Some("attribute_not_exists(PK)");
        self.transact(vec![
            tx_put(put(
                &self.table,
                to_item(&record(identity_pk(issuer, subject), "identity")),
                absent,
            )),
            tx_put(put(
                &self.table,
                to_item(&record(email_pk(email), "identity_email")),
                absent,
            )),
        ])
        .await
    }

    async fn bindings(
        &self,
        issuer: &str,
        subject: &str,
        email: &Email,
    ) -> Result<(Option<Email>, Option<(String, String)>), StoreError> {
        let (identity, by_email) = tokio::try_join!(
            self.get_item::<BindingRecord>(identity_pk(issuer, subject), SK),
            self.get_item::<BindingRecord>(email_pk(email), SK),
        )?;
        Ok((
            identity.and_then(|r| Email::parse(&r.email).ok()),
            by_email.map(|r| (r.issuer, r.subject)),
        ))
    }

    async fn unbind(&self, email: &Email) -> Result<bool, StoreError> {
        let Some(r) = self.get_item::<BindingRecord>(email_pk(email), SK).await? else {
            return Ok(false);
        };
        // Only the binding read: a release racing a new bind must not delete the new owner's.
        let delete = |pk: String| {
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk, SK)))
                .condition_expression("issuer = :i AND subject = :s AND email = :e")
                .expression_attribute_values(":i", s(&r.issuer))
                .expression_attribute_values(":s", s(&r.subject))
                .expression_attribute_values(":e", s(email.as_str()))
                .build()
                .map(|d| TransactWriteItem::builder().delete(d).build())
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        self.transact(vec![
            delete(email_pk(email))?,
            delete(identity_pk(&r.issuer, &r.subject))?,
        ])
        .await?;
        Ok(true)
    }
}

#[derive(Debug, Serialize)]
struct SeenRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: &'static str,
    ttl: i64,
}

#[async_trait]
impl ReplayGuard for DynamoStore {
    async fn first_use(&self, id: &str, until: OffsetDateTime) -> Result<bool, StoreError> {
        let record = SeenRecord {
            pk: format!("SEEN#{}", sha256_hex(id.as_bytes())),
            sk: "SEEN".into(),
            entity: "seen_request",
            ttl: until.unix_timestamp(),
        };
        // A plain conditional put: only its condition failing means "seen". (A transaction
        // would also be cancelled by throttling, which must not pass for a replay.)
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&record)))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if service_code(&e).as_deref() == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(StoreError::Unavailable(describe(&e))),
        }
    }
}

#[async_trait]
impl crate::ports::RefusalCounter for DynamoStore {
    async fn count_refusal(&self, caller: &str, day: &str, until: OffsetDateTime) -> Result<u64, StoreError> {
        use super::n;
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("REFUSALS#{day}#{caller}"), "REFUSALS")))
            .update_expression("ADD refused :one SET entity = :entity, #ttl = :ttl")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":entity", s("refusal_count"))
            .expression_attribute_values(":ttl", n(until.unix_timestamp()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        out.attributes
            .and_then(|a| {
                a.get("refused")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
            })
            .ok_or_else(|| StoreError::Unavailable("the refusal count was not returned".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::identity_pk;

    #[test]
    fn identity_keys_are_unambiguous() {
        assert_ne!(identity_pk("a#", "b"), identity_pk("a", "#b"));
        assert_eq!(identity_pk("iss", "sub"), identity_pk("iss", "sub"));
    }
}
