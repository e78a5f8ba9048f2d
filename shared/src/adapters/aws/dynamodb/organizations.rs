//! The organization items: the organization, its units and its members, in one partition
//! (`ORG#<id>`), and each registered account's place in its organization (attributes of the
//! account item, written only by syncs).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::accounts::account_pk;
use super::{B64, DynamoStore, describe, key, put, put_request, s, to_item, tx_put};
use crate::domain::identity_center::{IdentityCenterSettings, InstanceArn, UserAttribute};
use crate::domain::organization::{
    MemberState, OrgMember, OrgUnit, Organization, OrganizationId, OuId, ParentId, Placement,
};
use crate::domain::{AccountId, AwsAccountId, Region, RoleArn, Sealed};
use crate::ports::{OrganizationStore, StoreError, StoredOrganization};
use base64::Engine;

const ORGS_PARTITION: &str = "ORGS";

fn org_pk(id: &OrganizationId) -> String {
    format!("ORG#{id}")
}

#[derive(Debug, Serialize, Deserialize)]
struct OrgRecord {
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
    management_account_id: String,
    role_arn: String,
    sealed_external_id: String,
    member_role_name: String,
    default_region: String,
    enable_new_accounts: bool,
    root_id: String,
    #[serde(with = "time::serde::rfc3339")]
    synced_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct UnitRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    id: String,
    name: String,
    parent_id: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct MemberRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    aws_account_id: String,
    name: String,
    state: String,
    parent_id: String,
    #[serde(default)]
    ou_path: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
}

fn org_record(o: &Organization) -> OrgRecord {
    OrgRecord {
        pk: org_pk(&o.id),
        sk: "ORG".into(),
        gsi1pk: ORGS_PARTITION.into(),
        gsi1sk: o.id.to_string(),
        entity: "organization".into(),
        id: o.id.to_string(),
        name: o.name.clone(),
        management_account_id: o.management_account_id.to_string(),
        role_arn: o.role_arn.to_string(),
        sealed_external_id: B64.encode(&o.sealed_external_id.0),
        member_role_name: o.member_role_name.clone(),
        default_region: o.default_region.to_string(),
        enable_new_accounts: o.enable_new_accounts,
        root_id: o.root_id.clone(),
        synced_at: o.synced_at,
        created_at: o.created_at,
        updated_at: o.updated_at,
    }
}

fn unit_record(org: &OrganizationId, u: &OrgUnit) -> UnitRecord {
    UnitRecord {
        pk: org_pk(org),
        sk: format!("UNIT#{}", u.id),
        entity: "organizational unit".into(),
        id: u.id.to_string(),
        name: u.name.clone(),
        parent_id: u.parent.as_str().to_string(),
    }
}

fn member_record(org: &OrganizationId, m: &OrgMember) -> MemberRecord {
    MemberRecord {
        pk: org_pk(org),
        sk: format!("MEMBER#{}", m.aws_account_id),
        entity: "organization member".into(),
        aws_account_id: m.aws_account_id.to_string(),
        name: m.name.clone(),
        state: m.state.as_str().into(),
        parent_id: m.parent.as_str().to_string(),
        ou_path: m.ou_path.iter().map(ToString::to_string).collect(),
        account_id: m.account_id.as_ref().map(ToString::to_string),
    }
}

/// The organization's Identity Center settings: an item of their own in its partition.
const IC_SK: &str = "IDENTITY_CENTER";

#[derive(Debug, Serialize, Deserialize)]
struct IcRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    instance_arn: String,
    identity_store_id: String,
    region: String,
    admin_account_id: String,
    user_attribute: String,
    start_url: String,
}

impl IcRecord {
    fn from_domain(id: &OrganizationId, s: &IdentityCenterSettings) -> Self {
        IcRecord {
            pk: org_pk(id),
            sk: IC_SK.into(),
            entity: "identity center".into(),
            instance_arn: s.instance_arn.to_string(),
            identity_store_id: s.identity_store_id.clone(),
            region: s.region.to_string(),
            admin_account_id: s.admin_account_id.to_string(),
            user_attribute: s.user_attribute.path().into(),
            start_url: s.start_url.clone(),
        }
    }

    fn into_domain(self) -> Result<IdentityCenterSettings, StoreError> {
        Ok(IdentityCenterSettings {
            instance_arn: InstanceArn::parse(&self.instance_arn).map_err(|_| corrupt("instance"))?,
            identity_store_id: self.identity_store_id,
            region: Region::parse(&self.region).map_err(|_| corrupt("identity center region"))?,
            admin_account_id: AwsAccountId::parse(&self.admin_account_id)
                .map_err(|_| corrupt("identity center account"))?,
            user_attribute: UserAttribute::parse(&self.user_attribute).map_err(|_| corrupt("user attribute"))?,
            start_url: self.start_url,
        })
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Unavailable(format!("a stored organization item is corrupt: {what}"))
}

impl OrgRecord {
    fn into_domain(self) -> Result<Organization, StoreError> {
        Ok(Organization {
            id: OrganizationId::parse(&self.id).map_err(|_| corrupt("id"))?,
            name: self.name,
            management_account_id: AwsAccountId::parse(&self.management_account_id)
                .map_err(|_| corrupt("management account"))?,
            role_arn: RoleArn::parse(&self.role_arn).map_err(|_| corrupt("role arn"))?,
            sealed_external_id: Sealed(
                B64.decode(&self.sealed_external_id)
                    .map_err(|_| corrupt("external id"))?,
            ),
            member_role_name: self.member_role_name,
            default_region: Region::parse(&self.default_region).map_err(|_| corrupt("region"))?,
            enable_new_accounts: self.enable_new_accounts,
            root_id: self.root_id,
            synced_at: self.synced_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

impl UnitRecord {
    fn into_domain(self) -> Result<OrgUnit, StoreError> {
        Ok(OrgUnit {
            id: OuId::parse(&self.id).map_err(|_| corrupt("unit id"))?,
            name: self.name,
            parent: ParentId::parse(&self.parent_id).map_err(|_| corrupt("unit parent"))?,
        })
    }
}

impl MemberRecord {
    fn into_domain(self) -> Result<OrgMember, StoreError> {
        Ok(OrgMember {
            aws_account_id: AwsAccountId::parse(&self.aws_account_id).map_err(|_| corrupt("member id"))?,
            name: self.name,
            state: MemberState::parse(&self.state).ok_or_else(|| corrupt("member state"))?,
            parent: ParentId::parse(&self.parent_id).map_err(|_| corrupt("member parent"))?,
            ou_path: self
                .ou_path
                .iter()
                .map(|u| OuId::parse(u))
                .collect::<Result<_, _>>()
                .map_err(|_| corrupt("member path"))?,
            account_id: self
                .account_id
                .as_deref()
                .map(AccountId::parse)
                .transpose()
                .map_err(|_| corrupt("member account"))?,
        })
    }
}

/// Every unit and member item of `org`, keyed by sort key.
fn tree_items(org: &StoredOrganization) -> HashMap<String, HashMap<String, AttributeValue>> {
    let id = &org.organization.id;
    let units = org.units.iter().map(|u| {
        let r = unit_record(id, u);
        (r.sk.clone(), to_item(&r))
    });
    let members = org.members.iter().map(|m| {
        let r = member_record(id, m);
        (r.sk.clone(), to_item(&r))
    });
    units.chain(members).collect()
}

fn delete_request(pk: String, sk: &str) -> WriteRequest {
    WriteRequest::builder()
        .delete_request(
            DeleteRequest::builder()
                .set_key(Some(key(pk, sk)))
                .build()
                .expect("a key"),
        )
        .build()
}

#[async_trait]
impl OrganizationStore for DynamoStore {
    async fn insert(&self, org: &StoredOrganization, consumes: &str) -> Result<(), StoreError> {
        // The organization and the ExternalId it uses up in one transaction; its tree after
        // (a sync rewrites whatever of it a failure here left out).
        let record = org_record(&org.organization);
        self.transact(vec![
            tx_put(put(&self.table, to_item(&record), Some("attribute_not_exists(PK)"))),
            self.consume_external_id(consumes, org.organization.created_at),
        ])
        .await?;
        self.write_batches(tree_items(org).into_values().map(put_request).collect())
            .await
    }

    async fn get(&self, id: &OrganizationId) -> Result<Option<StoredOrganization>, StoreError> {
        // One partition holds three kinds of item: read each as JSON, then as its kind.
        let items: Vec<serde_json::Value> = super::all_pages(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk")
                .expression_attribute_values(":pk", s(org_pk(id)))
                .consistent_read(true),
        )
        .await?;
        let mut organization = None;
        let (mut units, mut members, mut identity_center) = (Vec::new(), Vec::new(), None);
        fn read<T: for<'de> Deserialize<'de>>(v: serde_json::Value) -> Result<T, StoreError> {
            serde_json::from_value(v).map_err(|e| corrupt(&e.to_string()))
        }
        for item in items {
            let sk = item["SK"].as_str().unwrap_or_default().to_string();
            if sk == "ORG" {
                organization = Some(read::<OrgRecord>(item)?.into_domain()?);
            } else if sk.starts_with("UNIT#") {
                units.push(read::<UnitRecord>(item)?.into_domain()?);
            } else if sk.starts_with("MEMBER#") {
                members.push(read::<MemberRecord>(item)?.into_domain()?);
            } else if sk == IC_SK {
                identity_center = Some(read::<IcRecord>(item)?.into_domain()?);
            }
        }
        Ok(organization.map(|organization| StoredOrganization {
            organization,
            units,
            members,
            identity_center,
        }))
    }

    async fn list(&self) -> Result<Vec<Organization>, StoreError> {
        let records: Vec<OrgRecord> = self.gsi1_all(ORGS_PARTITION).await?;
        records.into_iter().map(OrgRecord::into_domain).collect()
    }

    async fn save_tree(&self, before: &StoredOrganization, now: &StoredOrganization) -> Result<(), StoreError> {
        let pk = org_pk(&now.organization.id);
        let old = tree_items(before);
        let new = tree_items(now);
        let mut requests: Vec<WriteRequest> = Vec::new();
        for (sk, item) in &new {
            if old.get(sk) != Some(item) {
                requests.push(put_request(item.clone()));
            }
        }
        for sk in old.keys().filter(|sk| !new.contains_key(*sk)) {
            requests.push(delete_request(pk.clone(), sk));
        }
        self.write_batches(requests).await?;
        // The organization item last: `synced_at` says the tree is complete up to it.
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&org_record(&now.organization))))
            .condition_expression("attribute_exists(PK)")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(describe(&e)))
    }

    async fn set_enabled(
        &self,
        id: &OrganizationId,
        member: &OrgMember,
        account: &AccountId,
    ) -> Result<(), StoreError> {
        let mut enabled = member.clone();
        enabled.account_id = Some(account.clone());
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&member_record(id, &enabled))))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(describe(&e)))
    }

    async fn delete(&self, org: &StoredOrganization) -> Result<(), StoreError> {
        let pk = org_pk(&org.organization.id);
        let mut requests: Vec<WriteRequest> = tree_items(org)
            .into_keys()
            .map(|sk| delete_request(pk.clone(), &sk))
            .collect();
        // Whether or not the read before saw it: a set-up written since goes too (deleting an
        // item that is not there is no error).
        requests.push(delete_request(pk.clone(), IC_SK));
        requests.push(delete_request(pk, "ORG"));
        self.write_batches(requests).await
    }

    async fn set_identity_center(
        &self,
        id: &OrganizationId,
        settings: Option<&IdentityCenterSettings>,
    ) -> Result<(), StoreError> {
        let request = match settings {
            Some(settings) => self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(to_item(&IcRecord::from_domain(id, settings))))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| describe(&e)),
            None => self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(org_pk(id), IC_SK)))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| describe(&e)),
        };
        request.map_err(StoreError::Unavailable)
    }

    async fn place(&self, account: &AccountId, placement: Option<&Placement>) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(account_pk(account), "ACCOUNT")))
            .condition_expression("attribute_exists(PK)");
        let update = match placement {
            Some(p) => update
                .update_expression("SET org_id = :org, ou_path = :path, org_state = :state")
                .expression_attribute_values(":org", s(p.organization.to_string()))
                .expression_attribute_values(
                    ":path",
                    AttributeValue::L(p.ou_path.iter().map(|u| s(u.to_string())).collect()),
                )
                .expression_attribute_values(":state", s(p.state.as_str())),
            None => update.update_expression("REMOVE org_id, ou_path, org_state"),
        };
        match update.send().await {
            Ok(_) => Ok(()),
            // The account was removed meanwhile: nothing to place.
            Err(e) if super::service_code(&e).as_deref() == Some("ConditionalCheckFailedException") => Ok(()),
            Err(e) => Err(StoreError::Unavailable(describe(&e))),
        }
    }
}
