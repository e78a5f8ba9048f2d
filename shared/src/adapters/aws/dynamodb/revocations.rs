//! Revocation records (see `crate::domain::revocation`): one item per role, written with a
//! version condition so concurrent writers cannot lose each other's cuts.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{DynamoStore, put, to_item, tx_put};
use crate::domain::revocation::{ConsoleCut, Revoked, RoleRevocations};
use crate::domain::{RoleArn, SessionId};
use crate::ports::{RevocationStore, StoreError};

/// Keyed by the role's identity, not its ARN as typed: two spellings of one role (case, path)
/// render the same pages, so they must share one record.
fn revocations_pk(role: &RoleArn) -> String {
    format!("REVOCATIONS#{}", role.identity())
}

/// Where records were kept before: under the ARN as typed.
fn legacy_revocations_pk(role: &RoleArn) -> String {
    format!("REVOCATIONS#{role}")
}

#[derive(Debug, Serialize, Deserialize)]
struct ConsoleCutRecord {
    #[serde(with = "time::serde::rfc3339")]
    issued_before: OffsetDateTime,
    dead_after: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct RevocationsRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    role_arn: String,
    /// Session id → unix time after which its credentials are dead.
    sessions: BTreeMap<String, i64>,
    /// Session id → the page its deny is on (absent in records from before pages were kept:
    /// they are laid out again, see `RoleRevocations::repage_in_id_order`).
    #[serde(default)]
    pages: BTreeMap<String, usize>,
    console: BTreeMap<String, ConsoleCutRecord>,
    managed_pages: usize,
    version: u64,
    /// Absent in records from before group commits: nothing served is known.
    #[serde(default)]
    served: u64,
    /// The table's TTL removes a record once nothing in it can matter.
    ttl: i64,
}

impl RevocationsRecord {
    fn from_domain(role: &RoleArn, r: &RoleRevocations) -> Self {
        let last = r
            .sessions
            .values()
            .map(|s| s.dead_after)
            .chain(r.console.values().map(|c| c.dead_after))
            .max()
            .unwrap_or(0);
        RevocationsRecord {
            pk: revocations_pk(role),
            sk: "REVOCATIONS".into(),
            entity: "revocations".into(),
            role_arn: role.to_string(),
            sessions: r.sessions.iter().map(|(k, v)| (k.to_string(), v.dead_after)).collect(),
            pages: r.sessions.iter().map(|(k, v)| (k.to_string(), v.page)).collect(),
            console: r
                .console
                .iter()
                .map(|(k, c)| {
                    (
                        k.clone(),
                        ConsoleCutRecord {
                            issued_before: c.issued_before,
                            dead_after: c.dead_after,
                        },
                    )
                })
                .collect(),
            managed_pages: r.managed_pages,
            version: r.version,
            served: r.served,
            // Kept while a managed page may still need clearing: a week past the last cut.
            ttl: last.max(OffsetDateTime::now_utc().unix_timestamp()) + 7 * 86_400,
        }
    }

    fn into_domain(self) -> Result<RoleRevocations, StoreError> {
        let unpaged = self.pages.is_empty() && !self.sessions.is_empty();
        let pages = self.pages;
        let sessions = self
            .sessions
            .into_iter()
            .map(|(k, dead_after)| {
                let page = pages.get(&k).copied().unwrap_or(0);
                SessionId::parse(&k)
                    .map(|id| (id, Revoked { dead_after, page }))
                    .map_err(|_| StoreError::Unavailable(format!("revocations of {} are corrupt", self.role_arn)))
            })
            .collect::<Result<_, _>>()?;
        Ok(RoleRevocations {
            sessions,
            console: self
                .console
                .into_iter()
                .map(|(k, c)| {
                    (
                        k,
                        ConsoleCut {
                            issued_before: c.issued_before,
                            dead_after: c.dead_after,
                        },
                    )
                })
                .collect(),
            managed_pages: self.managed_pages,
            version: self.version,
            served: self.served,
        })
        .map(|mut record| {
            if unpaged {
                record.repage_in_id_order();
            }
            record
        })
    }
}

#[async_trait]
impl RevocationStore for DynamoStore {
    async fn get_revocations(&self, role: &RoleArn) -> Result<Option<RoleRevocations>, StoreError> {
        if let Some(record) = self
            .get_item::<RevocationsRecord>(revocations_pk(role), "REVOCATIONS")
            .await?
        {
            return record.into_domain().map(Some);
        }
        // A record from before records were keyed by identity: its cuts carry over into the new
        // record at the next write (version 0 makes that write a create). It is left to its TTL.
        if legacy_revocations_pk(role) == revocations_pk(role) {
            return Ok(None);
        }
        Ok(self
            .get_item::<RevocationsRecord>(legacy_revocations_pk(role), "REVOCATIONS")
            .await?
            .map(RevocationsRecord::into_domain)
            .transpose()?
            .map(|mut legacy| {
                legacy.version = 0;
                legacy
            }))
    }

    async fn put_revocations(&self, role: &RoleArn, record: &RoleRevocations) -> Result<(), StoreError> {
        self.transact(vec![versioned_put(&self.table, role, record)]).await
    }

    async fn put_revocations_releasing(
        &self,
        role: &RoleArn,
        record: &RoleRevocations,
        lease: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        let release = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(super::sessions::lease_key(lease)))
            .condition_expression("#owner = :me")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":me", super::s(owner))
            .build()
            .expect("delete has table and key");
        self.transact(vec![
            versioned_put(&self.table, role, record),
            TransactWriteItem::builder().delete(release).build(),
        ])
        .await
    }
}

/// The record's write, if the stored version is the one before it (absent for version 1).
fn versioned_put(table: &str, role: &RoleArn, record: &RoleRevocations) -> TransactWriteItem {
    let item = to_item(&RevocationsRecord::from_domain(role, record));
    let mut p = if record.version <= 1 {
        put(table, item, Some("attribute_not_exists(PK)"))
    } else {
        put(table, item, Some("version = :prev"))
    };
    if record.version > 1 {
        p.expression_attribute_values = Some([(":prev".to_string(), super::n(record.version - 1))].into());
    }
    tx_put(p)
}
