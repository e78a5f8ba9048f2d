//! Access-group, group-name and membership items (see the key design in `mod.rs`).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{DynamoStore, describe, key, n, put, to_item, tx_delete, tx_put};
use crate::domain::{
    AccessGroup, AccountId, AccountScope, Approval, Email, GrantPolicy, GroupId, GroupName, Membership, Permissions,
};
use crate::ports::{GroupStore, Page, PageRequest, StoreError};

const GROUPS_PARTITION: &str = "GROUPS";

fn group_pk(id: &GroupId) -> String {
    format!("GROUP#{id}")
}

fn name_pk(folded: &str) -> String {
    format!("GROUPNAME#{folded}")
}

#[derive(Debug, Serialize, Deserialize)]
struct GroupRecord {
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
    description: String,
    all_accounts: bool,
    account_ids: Vec<String>,
    /// Organizational units named, and the accounts they resolved to at the last write or sync.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ou_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    resolved_account_ids: Vec<String>,
    start_sessions: bool,
    start_jit_sessions: bool,
    /// Absent in records written before shell sessions.
    #[serde(default)]
    start_shell_sessions: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    start_identity_center_sessions: bool,
    /// The grant policy; absent in records written before policies (automatic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy: Option<PolicyRecord>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    version: u64,
}

impl GroupRecord {
    fn from_domain(g: &AccessGroup) -> Self {
        let strings = |ids: &[AccountId]| ids.iter().map(ToString::to_string).collect::<Vec<_>>();
        let (all_accounts, account_ids, ou_ids, resolved_account_ids) = match &g.accounts {
            AccountScope::All => (true, Vec::new(), Vec::new(), Vec::new()),
            AccountScope::Only(ids) => (false, strings(ids), Vec::new(), Vec::new()),
            AccountScope::Units {
                accounts,
                units,
                resolved,
            } => (
                false,
                strings(accounts),
                units.iter().map(ToString::to_string).collect(),
                strings(resolved),
            ),
        };
        GroupRecord {
            pk: group_pk(&g.id),
            sk: "GROUP".into(),
            gsi1pk: GROUPS_PARTITION.into(),
            gsi1sk: g.id.to_string(),
            entity: "access_group".into(),
            id: g.id.to_string(),
            name: g.name.as_str().into(),
            description: g.description.clone(),
            all_accounts,
            account_ids,
            ou_ids,
            resolved_account_ids,
            start_sessions: g.permissions.start_sessions,
            start_jit_sessions: g.permissions.start_jit_sessions,
            start_shell_sessions: g.permissions.start_shell_sessions,
            start_identity_center_sessions: g.permissions.start_identity_center_sessions,
            policy: (g.policy != GrantPolicy::default()).then(|| PolicyRecord::from_domain(&g.policy)),
            created_at: g.created_at,
            updated_at: g.updated_at,
            version: g.version,
        }
    }

    fn into_domain(self) -> Result<AccessGroup, StoreError> {
        let corrupt = |what: &str| StoreError::Unavailable(format!("stored group {} is corrupt: {what}", self.id));
        Ok(AccessGroup {
            id: GroupId::parse(&self.id).map_err(|_| corrupt("id"))?,
            name: GroupName::parse(&self.name).map_err(|_| corrupt("name"))?,
            description: self.description,
            accounts: {
                let ids = |ids: &[String]| -> Result<Vec<AccountId>, StoreError> {
                    ids.iter()
                        .map(|a| AccountId::parse(a))
                        .collect::<Result<_, _>>()
                        .map_err(|_| corrupt("accounts"))
                };
                if self.all_accounts {
                    AccountScope::All
                } else if self.ou_ids.is_empty() {
                    AccountScope::Only(ids(&self.account_ids)?)
                } else {
                    AccountScope::Units {
                        accounts: ids(&self.account_ids)?,
                        units: self
                            .ou_ids
                            .iter()
                            .map(|u| crate::domain::organization::OuId::parse(u))
                            .collect::<Result<_, _>>()
                            .map_err(|_| corrupt("organizational units"))?,
                        resolved: ids(&self.resolved_account_ids)?,
                    }
                }
            },
            permissions: Permissions {
                start_sessions: self.start_sessions,
                start_jit_sessions: self.start_jit_sessions,
                start_shell_sessions: self.start_shell_sessions,
                start_identity_center_sessions: self.start_identity_center_sessions,
            },
            policy: match self.policy {
                Some(p) => p.into_domain().ok_or_else(|| corrupt("policy"))?,
                None => GrantPolicy::default(),
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct PolicyRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    approvals_required: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    approver_group_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_duration_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jit_role_arns: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    break_glass_max_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    permission_set_arns: Option<Vec<String>>,
}

impl PolicyRecord {
    fn from_domain(p: &GrantPolicy) -> Self {
        PolicyRecord {
            approvals_required: p.approval.as_ref().map(|a| a.approvals_required),
            approver_group_ids: p
                .approval
                .iter()
                .flat_map(|a| &a.approver_groups)
                .map(ToString::to_string)
                .collect(),
            max_duration_seconds: p.max_duration.map(|m| m.seconds()),
            jit_role_arns: p
                .jit_roles
                .as_ref()
                .map(|r| r.iter().map(ToString::to_string).collect()),
            break_glass_max_seconds: p.break_glass_max.map(|m| m.seconds()),
            permission_set_arns: p
                .permission_sets
                .as_ref()
                .map(|r| r.iter().map(ToString::to_string).collect()),
        }
    }

    /// Parsed as the API parses it: a record that would not pass is corrupt.
    fn into_domain(self) -> Option<GrantPolicy> {
        let approval = match self.approvals_required {
            Some(n) => Some(Approval::parse(n.into(), &self.approver_group_ids).ok()?),
            None => None,
        };
        GrantPolicy::parse(
            approval,
            self.max_duration_seconds.map(i64::from),
            self.jit_role_arns.as_deref(),
            self.break_glass_max_seconds.map(i64::from),
            self.permission_set_arns.as_deref(),
        )
        .ok()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct NameRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    group_id: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct MemberRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(rename = "GSI1PK")]
    gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    gsi1sk: String,
    entity: String,
    group_id: String,
    email: String,
    #[serde(with = "time::serde::rfc3339")]
    added_at: OffsetDateTime,
}

impl MemberRecord {
    fn into_domain(self) -> Result<Membership, StoreError> {
        let corrupt = || StoreError::Unavailable("stored membership is corrupt".into());
        Ok(Membership {
            group_id: GroupId::parse(&self.group_id).map_err(|_| corrupt())?,
            email: Email::parse(&self.email).map_err(|_| corrupt())?,
            added_at: self.added_at,
        })
    }
}

impl DynamoStore {
    fn name_put(&self, group: &AccessGroup) -> TransactWriteItem {
        let record = NameRecord {
            pk: name_pk(&group.name.folded()),
            sk: "GROUPNAME".into(),
            entity: "group_name".into(),
            group_id: group.id.to_string(),
        };
        tx_put(put(&self.table, to_item(&record), Some("attribute_not_exists(PK)")))
    }
}

#[async_trait]
impl GroupStore for DynamoStore {
    async fn create(&self, group: &AccessGroup) -> Result<(), StoreError> {
        let record = GroupRecord::from_domain(group);
        self.transact(vec![
            tx_put(put(&self.table, to_item(&record), Some("attribute_not_exists(PK)"))),
            self.name_put(group),
        ])
        .await
    }

    async fn get(&self, id: &GroupId) -> Result<Option<AccessGroup>, StoreError> {
        self.get_item::<GroupRecord>(group_pk(id), "GROUP")
            .await?
            .map(GroupRecord::into_domain)
            .transpose()
    }

    async fn list(&self, page: &PageRequest) -> Result<Option<Page<AccessGroup>>, StoreError> {
        let rebuild = |sort: &str| Some(key(group_pk(&GroupId::parse(sort).ok()?), "GROUP"));
        self.gsi1_page(GROUPS_PARTITION, page, rebuild, GroupRecord::into_domain)
            .await
    }

    async fn update(&self, group: &AccessGroup, previous_name: &str) -> Result<(), StoreError> {
        let mut p = put(
            &self.table,
            to_item(&GroupRecord::from_domain(group)),
            Some("version = :prev"),
        );
        p.expression_attribute_values = Some([(":prev".to_string(), n(group.version - 1))].into());
        let mut items = vec![tx_put(p)];
        if group.name.folded() != previous_name {
            items.push(self.name_put(group));
            items.push(tx_delete(&self.table, key(name_pk(previous_name), "GROUPNAME")));
        }
        self.transact(items).await
    }

    async fn delete(&self, group: &AccessGroup) -> Result<(), StoreError> {
        // Members first: a crash between the two leaves a group without members, never
        // memberships of a group that is gone.
        for member in self
            .query_prefix::<MemberRecord>(group_pk(&group.id), "MEMBER#")
            .await?
        {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(member.pk, &member.sk)))
                .send()
                .await
                .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        }
        self.transact(vec![
            tx_delete(&self.table, key(group_pk(&group.id), "GROUP")),
            tx_delete(&self.table, key(name_pk(&group.name.folded()), "GROUPNAME")),
        ])
        .await
    }

    async fn add_member(&self, m: &Membership) -> Result<bool, StoreError> {
        let record = MemberRecord {
            pk: group_pk(&m.group_id),
            sk: format!("MEMBER#{}", m.email),
            gsi1pk: format!("MEMBER#{}", m.email),
            gsi1sk: format!("GROUP#{}", m.group_id),
            entity: "membership".into(),
            group_id: m.group_id.to_string(),
            email: m.email.to_string(),
            added_at: m.added_at,
        };
        let group_exists = TransactWriteItem::builder()
            .condition_check(
                ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(group_pk(&m.group_id), "GROUP")))
                    .condition_expression("attribute_exists(PK)")
                    .build()
                    .expect("check has table, key and condition"),
            )
            .build();
        if self
            .get_item::<MemberRecord>(record.pk.clone(), &record.sk)
            .await?
            .is_some()
        {
            return Ok(false);
        }
        self.transact(vec![group_exists, tx_put(put(&self.table, to_item(&record), None))])
            .await?;
        Ok(true)
    }

    async fn remove_member(&self, group: &GroupId, email: &Email) -> Result<bool, StoreError> {
        self.delete_existing(group_pk(group), &format!("MEMBER#{email}")).await
    }

    async fn members(&self, group: &GroupId, page: &PageRequest) -> Result<Option<Page<Membership>>, StoreError> {
        self.prefix_page(group_pk(group), "MEMBER#", page, MemberRecord::into_domain)
            .await
    }

    async fn groups_of(&self, email: &Email) -> Result<Vec<AccessGroup>, StoreError> {
        let ids: Vec<String> = self
            .gsi1_all::<MemberRecord>(&format!("MEMBER#{email}"))
            .await?
            .into_iter()
            .map(|m| m.group_id)
            .collect();
        let keys: Vec<(String, String)> = ids
            .iter()
            .filter_map(|id| GroupId::parse(id).ok())
            .map(|id| (group_pk(&id), "GROUP".to_string()))
            .collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // One read for all the groups; a membership can briefly outlive its group while the
        // group is being deleted, so a missing one is skipped.
        let mut items = self.batch_get(&keys).await?;
        keys.into_iter()
            .filter_map(|k| items.remove(&k))
            .map(|item| super::from_item::<GroupRecord>(item)?.into_domain())
            .collect()
    }
}
