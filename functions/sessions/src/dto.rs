//! The JSON shapes of the sessions API. Credentials and passwords appear only in the response
//! that starts a session, once, and never in a bot's; nothing else (lists, gets, logs) ever
//! carries them.

use serde::{Deserialize, Serialize};
use shared::domain::{
    AccountId, ApprovalRequest, Collector, Email, Invalid, RoleArn, Session, SessionKind,
    identity_center::PermissionSetArn, parse_reason, shell::ShellTarget,
};
use shared::services::sessions::{Granted, StartRequest};
use time::OffsetDateTime;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartIn {
    pub account_id: String,
    #[serde(rename = "type")]
    pub kind: KindIn,
    pub role_arn: Option<String>,
    /// Shell sessions: the instance (`i-…`) or managed node (`mi-…`).
    pub target: Option<String>,
    /// Identity Center sessions: the permission set.
    pub permission_set_arn: Option<String>,
    #[serde(deserialize_with = "shared::http::request::whole_number")]
    pub duration_seconds: i64,
    pub reason: String,
    /// Bots only: the platform user the session is for.
    pub on_behalf_of: Option<String>,
    /// Start at once where a grant allows break-glass (flagged, reviewed afterwards).
    #[serde(default)]
    pub break_glass: bool,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum KindIn {
    Jit,
    Console,
    Shell,
    IdentityCenter,
}

impl StartIn {
    pub fn parse(self) -> Result<StartRequest, Invalid> {
        let mut c = Collector::default();
        let account = c.take(AccountId::parse(&self.account_id).map_err(|e| e.under("account_id")));
        let role = self
            .role_arn
            .map(|r| c.take(RoleArn::parse(&r).map_err(|e| e.under("role_arn"))));
        let reason = c.take(parse_reason(&self.reason));
        let on_behalf_of = self
            .on_behalf_of
            .map(|e| c.take(Email::parse(&e).map_err(|e| e.under("on_behalf_of"))));
        let kind = match self.kind {
            KindIn::Jit => SessionKind::Jit,
            KindIn::Console => SessionKind::Console,
            KindIn::Shell => SessionKind::Shell,
            KindIn::IdentityCenter => SessionKind::IdentityCenter,
        };
        if kind == SessionKind::Jit && role.is_none() {
            c.push("role_arn", "is required for JIT sessions");
        }
        let target = match (kind, self.target) {
            (SessionKind::Shell, Some(t)) => c.take(ShellTarget::parse(&t)),
            (SessionKind::Shell, None) => {
                c.push("target", "is required for shell sessions");
                None
            }
            (_, Some(_)) => {
                c.push("target", "is only for shell sessions");
                None
            }
            (_, None) => None,
        };
        let permission_set = match (kind, self.permission_set_arn) {
            (SessionKind::IdentityCenter, Some(p)) => {
                c.take(PermissionSetArn::parse(&p).map_err(|e| e.under("permission_set_arn")))
            }
            (SessionKind::IdentityCenter, None) => {
                c.push("permission_set_arn", "is required for Identity Center sessions");
                None
            }
            (_, Some(_)) => {
                c.push("permission_set_arn", "is only for Identity Center sessions");
                None
            }
            (_, None) => None,
        };
        if kind == SessionKind::IdentityCenter && role.is_some() {
            c.push(
                "role_arn",
                "is not for Identity Center sessions: name a permission_set_arn",
            );
        }
        c.finish()?;
        Ok(StartRequest {
            account: account.expect("checked"),
            kind,
            role: role.flatten(),
            target,
            permission_set,
            duration_seconds: self.duration_seconds,
            reason: reason.expect("checked"),
            on_behalf_of: on_behalf_of.flatten(),
            break_glass: self.break_glass,
        })
    }
}

/// An approval or a cancel: the reason is optional.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DecisionIn {
    pub reason: Option<String>,
    pub on_behalf_of: Option<String>,
}

/// A denial: the reason is required.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenyIn {
    pub reason: String,
    pub on_behalf_of: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewIn {
    pub note: String,
    pub on_behalf_of: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendIn {
    #[serde(deserialize_with = "shared::http::request::whole_number")]
    pub duration_seconds: i64,
    pub reason: String,
    pub on_behalf_of: Option<String>,
}

/// `GET /sessions/{id}/activity`'s answer (infra/openapi.yaml `SessionActivity`).
pub fn activity_out(a: &shared::services::sessions::ActivityAnswer) -> serde_json::Value {
    serde_json::json!({
        "session_id": a.session.id.to_string(),
        "source": a.source,
        "region": a.region,
        "lookup": { "attribute": a.lookup.attribute, "value": a.lookup.value },
        "from": a.window.map(|w| at(w.0)),
        "to": a.window.map(|w| at(w.1)),
        "events": a.events,
        "next_cursor": a.next_cursor,
        "partial": a.partial,
        "verified": a.verified,
        "snapshot": a.session.activity.as_ref().map(|s| serde_json::json!({
            "at": at(s.at),
            "events": s.events,
            "truncated": s.truncated,
            "error": s.error,
        })),
        "note": shared::domain::activity::NOTE,
    })
}

fn at(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn request_out(r: &ApprovalRequest) -> serde_json::Value {
    serde_json::json!({
        "approvals_required": r.approvals_required,
        "approver_group_ids": r.approver_groups.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "approvals": r.approvals.iter().map(|v| serde_json::json!({
            "by": v.by.to_string(), "via": v.via, "at": at(v.at), "reason": v.reason,
        })).collect::<Vec<_>>(),
        "requested_at": at(r.requested_at),
        "lapses_at": at(r.lapses_at),
        "decision": r.decided.as_ref().map(|d| serde_json::json!({
            "outcome": d.outcome.as_str(), "by": d.by, "at": at(d.at), "reason": d.reason,
        })),
    })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EndIn {
    pub reason: String,
    pub on_behalf_of: Option<String>,
}

#[derive(Serialize)]
pub struct SessionOut {
    pub id: String,
    pub account_id: String,
    pub aws_account_id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub user: String,
    /// The user's IAM user in the account (null for Identity Center sessions).
    pub iam_user: Option<String>,
    pub role_arn: Option<String>,
    /// Identity Center sessions: the permission set and the user in the identity store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_center: Option<serde_json::Value>,
    /// Shell sessions: the instance or managed node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Shell sessions: the Session Manager sessions it opened, recorded at its end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssm_sessions: Option<Vec<shared::domain::shell::SsmSession>>,
    pub duration_seconds: u32,
    pub reason: String,
    pub requested_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub status: &'static str,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    pub ended_by: Option<String>,
    pub end_reason: Option<String>,
    pub revocation_failures: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub break_glass: bool,
    /// A break-glass session's review.
    pub review: Option<serde_json::Value>,
    /// The approval its start needed (null: it started at once).
    pub request: Option<serde_json::Value>,
    pub pending_extension: Option<serde_json::Value>,
    pub extensions: Vec<serde_json::Value>,
}

impl From<&Session> for SessionOut {
    fn from(s: &Session) -> Self {
        SessionOut {
            id: s.id.to_string(),
            account_id: s.account_id.to_string(),
            aws_account_id: s.aws_account_id.to_string(),
            kind: s.kind.as_str(),
            user: s.user.to_string(),
            iam_user: s.iam_user.as_ref().map(ToString::to_string),
            identity_center: s.identity_center.as_ref().map(|ic| {
                serde_json::json!({
                    "permission_set_arn": ic.permission_set.to_string(),
                    "permission_set_name": ic.permission_set_name,
                    "identity_store_user_id": ic.user_id,
                    "user_name": ic.user_name,
                    "outside": ic.outside,
                })
            }),
            role_arn: s.role.as_ref().map(ToString::to_string),
            target: s.target.as_ref().map(ToString::to_string),
            ssm_sessions: (s.kind == SessionKind::Shell).then(|| s.ssm_sessions.clone()),
            duration_seconds: s.duration_seconds,
            reason: s.reason.clone(),
            requested_by: s.requested_by.clone(),
            started_at: s.started_at,
            expires_at: s.expires_at,
            status: s.status.as_str(),
            ended_at: s.ending.as_ref().map(|e| e.at),
            ended_by: s.ending.as_ref().map(|e| e.by.clone()),
            end_reason: s.ending.as_ref().map(|e| e.reason.clone()),
            revocation_failures: s.revocation_failures,
            last_error: s.last_error.clone(),
            break_glass: s.break_glass,
            review: s
                .review
                .as_ref()
                .map(|r| serde_json::json!({ "by": r.by.to_string(), "at": at(r.at), "note": r.note })),
            request: s.request.as_ref().map(request_out),
            pending_extension: s.pending_extension.as_ref().map(|p| {
                serde_json::json!({
                    "duration_seconds": p.duration_seconds,
                    "reason": p.reason,
                    "requested_by": p.requested_by,
                    "approval": request_out(&p.approval),
                })
            }),
            extensions: s
                .extensions
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "at": at(e.at), "by": e.by, "duration_seconds": e.duration_seconds,
                        "reason": e.reason, "expires_at": at(e.expires_at),
                    })
                })
                .collect(),
        }
    }
}

/// The one response that carries secrets: returned when the session starts (or, after an
/// approval, on the requester's first `GET`), never again.
pub fn started(session: &Session, granted: &Granted) -> serde_json::Value {
    let mut out = serde_json::json!({ "session": SessionOut::from(session) });
    out.as_object_mut().expect("an object").extend(granted_fields(granted));
    out
}

/// Temporary credentials as the one answer that carries them shows them.
fn credentials_out(c: &shared::ports::TemporaryCredentials) -> serde_json::Value {
    serde_json::json!({
        "access_key_id": c.access_key_id,
        "secret_access_key": c.secret_access_key.expose(),
        "session_token": c.session_token.expose(),
        "expiration": at(c.expiration),
    })
}

/// What a grant hands out, as the fields of `started`'s answer.
pub fn granted_fields(granted: &Granted) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    match granted {
        Granted::Jit {
            credentials,
            console_url,
        } => {
            out.insert("credentials".into(), credentials_out(credentials));
            out.insert("console_url".into(), serde_json::json!(console_url));
        }
        Granted::Shell { credentials, connect } => {
            out.insert("credentials".into(), credentials_out(credentials));
            out.insert("shell".into(), serde_json::json!(connect));
        }
        Granted::JitLink { console_url } => {
            out.insert("console_url".into(), serde_json::json!(console_url));
        }
        Granted::IdentityCenter(using) => {
            out.insert("identity_center".into(), serde_json::json!(using));
        }
        Granted::Console {
            signin_url,
            user_name,
            password,
            switch_role_links,
        } => {
            out.insert(
                "console".into(),
                serde_json::json!({
                    "signin_url": signin_url,
                    "user_name": user_name,
                    "password": password.expose(),
                    "switch_role_links": switch_role_links
                        .iter()
                        .map(|(role, url)| serde_json::json!({ "role_arn": role.to_string(), "url": url }))
                        .collect::<Vec<_>>(),
                }),
            );
        }
    }
    out
}

#[derive(Serialize)]
pub struct SessionPage {
    pub items: Vec<SessionOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
