//! The `/organizations` routes: registering an AWS Organization, reading it, enabling its
//! members for sessions, syncing it now, and removing it (admins only, as every route here).

use http::StatusCode;
use lambda_http::Request;
use serde::Deserialize;
use shared::App;
use shared::domain::identity_center::{IdentityCenterSettings, InstanceArn, UserAttribute};
use shared::domain::organization::{OrgMember, OrgUnit};
use shared::domain::{AwsAccountId, Collector, Invalid, Region, RoleArn, parse_external_id};
use shared::http::{Handled, Problem, json, json_body, no_content, path_param};
use shared::ports::StoredOrganization;
use shared::services::organizations::{RegisterOrganization, SetIdentityCenter, SyncReport};

use crate::dto::AccountOut;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterIn {
    name: String,
    default_region: String,
    role_arn: String,
    external_id: String,
    /// Absent or null: false.
    #[serde(default)]
    enable_new_accounts: Option<bool>,
}

impl RegisterIn {
    fn parse(self) -> Result<RegisterOrganization, Invalid> {
        let mut c = Collector::default();
        let name = self.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            c.push("name", "must be 1 to 64 characters without control characters");
        }
        let region = c.take(Region::parse(&self.default_region));
        let role = c.take(RoleArn::parse(&self.role_arn).map_err(|e| e.under("role_arn")));
        let external_id = c.take(parse_external_id(&self.external_id));
        c.finish()?;
        Ok(RegisterOrganization {
            name,
            default_region: region.expect("checked"),
            role_arn: role.expect("checked"),
            external_id: external_id.expect("checked"),
            enable_new_accounts: self.enable_new_accounts.unwrap_or(false),
        })
    }
}

/// `PUT /organizations/{id}/identity-center`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityCenterIn {
    region: String,
    /// Absent or null: the management account.
    #[serde(default)]
    admin_account_id: Option<String>,
    /// Absent or null: the only instance the account administers.
    #[serde(default)]
    instance_arn: Option<String>,
    /// `emails.value` (absent or null) or `userName`.
    #[serde(default)]
    user_attribute: Option<String>,
    /// Absent or null: `https://<identity store id>.awsapps.com/start`.
    #[serde(default)]
    start_url: Option<String>,
}

impl IdentityCenterIn {
    fn parse(self) -> Result<SetIdentityCenter, Invalid> {
        let mut c = Collector::default();
        let region = c.take(Region::parse(&self.region).map_err(|e| e.under("region")));
        let admin = self
            .admin_account_id
            .map(|a| c.take(AwsAccountId::parse(&a).map_err(|e| e.under("admin_account_id"))));
        let instance = self
            .instance_arn
            .map(|a| c.take(InstanceArn::parse(&a).map_err(|e| e.under("instance_arn"))));
        let attribute = c.take(UserAttribute::parse(
            self.user_attribute.as_deref().unwrap_or("emails.value"),
        ));
        if let Some(url) = &self.start_url
            && (!url.starts_with("https://")
                || url.chars().count() > 508
                || url.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            c.push("start_url", "must be the access portal's https:// URL");
        }
        c.finish()?;
        Ok(SetIdentityCenter {
            region: region.expect("checked"),
            admin_account_id: admin.flatten(),
            instance_arn: instance.flatten(),
            user_attribute: attribute.expect("checked"),
            start_url: self.start_url,
        })
    }
}

fn identity_center_out(s: &IdentityCenterSettings) -> serde_json::Value {
    serde_json::json!({
        "instance_arn": s.instance_arn.as_str(),
        "identity_store_id": s.identity_store_id,
        "region": s.region.as_str(),
        "admin_account_id": s.admin_account_id.as_str(),
        "user_attribute": s.user_attribute.path(),
        "start_url": s.start_url,
    })
}

fn unit_out(u: &OrgUnit) -> serde_json::Value {
    serde_json::json!({ "id": u.id.as_str(), "name": u.name, "parent_id": u.parent.as_str() })
}

fn member_out(m: &OrgMember) -> serde_json::Value {
    serde_json::json!({
        "aws_account_id": m.aws_account_id.as_str(),
        "name": m.name,
        "state": m.state.as_str(),
        "parent_id": m.parent.as_str(),
        "ou_path": m.ou_path.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        "account_id": m.account_id.as_ref().map(|a| a.as_str()),
    })
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

/// The organization without its tree (listings).
fn summary_out(o: &shared::domain::organization::Organization) -> serde_json::Value {
    serde_json::json!({
        "id": o.id.as_str(),
        "name": o.name,
        "management_account_id": o.management_account_id.as_str(),
        "role_arn": o.role_arn.as_str(),
        "member_role_name": o.member_role_name,
        "default_region": o.default_region.as_str(),
        "enable_new_accounts": o.enable_new_accounts,
        "root_id": o.root_id,
        "synced_at": rfc3339(o.synced_at),
        "created_at": rfc3339(o.created_at),
        "updated_at": rfc3339(o.updated_at),
    })
}

fn organization_out(s: &StoredOrganization) -> serde_json::Value {
    let mut out = summary_out(&s.organization);
    let mut units: Vec<&OrgUnit> = s.units.iter().collect();
    units.sort_by(|a, b| a.id.cmp(&b.id));
    let mut members: Vec<&OrgMember> = s.members.iter().collect();
    members.sort_by(|a, b| a.aws_account_id.as_str().cmp(b.aws_account_id.as_str()));
    out["identity_center"] = s
        .identity_center
        .as_ref()
        .map_or(serde_json::Value::Null, identity_center_out);
    out["units"] = units.into_iter().map(unit_out).collect();
    out["accounts"] = members.into_iter().map(member_out).collect();
    out
}

fn report_out(r: &SyncReport) -> serde_json::Value {
    serde_json::json!({
        "organization_id": r.organization_id,
        "accounts": r.accounts,
        "units": r.units,
        "discovered": r.discovered,
        "closed": r.closed,
        "moved": r.moved,
        "enabled": r.enabled.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "groups_updated": r.groups_updated,
        "sessions_ended": r.sessions_ended.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "synced_at": rfc3339(r.synced_at),
    })
}

fn created(body: &serde_json::Value, location: String) -> Handled {
    let mut resp = json(StatusCode::CREATED, body);
    resp.headers_mut()
        .insert(http::header::LOCATION, location.parse().expect("ids are header-safe"));
    Ok(resp)
}

/// Serves one `/organizations` route.
pub async fn route(app: &App, route: &str, req: &Request) -> Handled {
    let id = || path_param(req, "id").ok_or_else(|| Problem::not_found("no organization id in the path"));
    match route {
        "POST /organizations" => {
            let cmd = json_body::<RegisterIn>(req)?.parse().map_err(Problem::validation)?;
            let org = app.organizations.register(cmd).await?;
            created(
                &organization_out(&org),
                format!("/organizations/{}", org.organization.id),
            )
        }
        "GET /organizations" => {
            let items: Vec<serde_json::Value> = app.organizations.list().await?.iter().map(summary_out).collect();
            Ok(json(StatusCode::OK, &serde_json::json!({ "items": items })))
        }
        "GET /organizations/{id}" => Ok(json(
            StatusCode::OK,
            &organization_out(&app.organizations.get(&id()?).await?),
        )),
        "DELETE /organizations/{id}" => {
            app.organizations.delete(&id()?).await?;
            Ok(no_content())
        }
        "PUT /organizations/{id}/identity-center" => {
            let cmd = json_body::<IdentityCenterIn>(req)?
                .parse()
                .map_err(Problem::validation)?;
            let org = app.organizations.set_identity_center(&id()?, cmd).await?;
            Ok(json(StatusCode::OK, &organization_out(&org)))
        }
        "POST /organizations/{id}/sync" => {
            let report = app.organizations.sync(&id()?, &app.sessions).await?;
            Ok(json(StatusCode::OK, &report_out(&report)))
        }
        "POST /organizations/{id}/accounts/{aws_account_id}/enable" => {
            let member =
                path_param(req, "aws_account_id").ok_or_else(|| Problem::not_found("no account in the path"))?;
            let account = app.organizations.enable(&id()?, &member).await?;
            created(
                &serde_json::to_value(AccountOut::from(&account)).expect("serializes"),
                format!("/accounts/{}", account.id),
            )
        }
        other => Err(Problem::not_found(format!("no route {other}"))),
    }
}
