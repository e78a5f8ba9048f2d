//! The stored layout of a session item: what DynamoDB holds, and its translation to and from
//! the domain (a record that does not translate is corrupt, never guessed at).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::sessions::{ACTIVITY_DUE_PARTITION, ALL_PARTITION, DUE_PARTITION, due_sort, session_pk};
use crate::domain::activity::ActivitySnapshot;
use crate::domain::identity_center::{IcAccess, PermissionSetArn};
use crate::domain::{
    AccountId, ApprovalRequest, AwsAccountId, Decided, Email, Ending, Extension, GroupId, IamUserName, Outcome,
    PendingExtension, Review, RoleArn, Session, SessionId, SessionKind, SessionStatus, Vote,
};
use crate::ports::StoreError;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct SessionRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(rename = "GSI1PK")]
    gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    gsi1sk: String,
    #[serde(rename = "GSI2PK", default, skip_serializing_if = "Option::is_none")]
    gsi2pk: Option<String>,
    #[serde(rename = "GSI2SK", default, skip_serializing_if = "Option::is_none")]
    gsi2sk: Option<String>,
    #[serde(rename = "GSI3PK")]
    gsi3pk: String,
    #[serde(rename = "GSI3SK")]
    gsi3sk: String,
    entity: String,
    id: String,
    account_id: String,
    aws_account_id: String,
    kind: String,
    user: String,
    /// Empty for the kinds not given through an IAM user (Identity Center's).
    #[serde(default)]
    iam_user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    identity_center: Option<IcRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role_arn: Option<String>,
    duration_seconds: u32,
    reason: String,
    requested_by: String,
    #[serde(with = "time::serde::rfc3339")]
    started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    status: String,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    ended_at: Option<OffsetDateTime>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    revoked_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ended_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_outcome: Option<String>,
    revocation_failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    log_key: String,
    log_head: String,
    version: u64,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    credentials_expire_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    switch_roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ssm_sessions: Vec<crate::domain::shell::SsmSession>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request: Option<RequestRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending_extension: Option<PendingExtensionRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    extensions: Vec<ExtensionRecord>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    break_glass: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    reviewers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    review: Option<ReviewRecord>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    activity_due_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    activity: Option<ActivityRecord>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ActivityRecord {
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    events: u32,
    #[serde(default)]
    truncated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct VoteRecord {
    by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    via: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct DecidedRecord {
    outcome: String,
    by: String,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct RequestRecord {
    approvals_required: u32,
    approver_group_ids: Vec<String>,
    #[serde(default)]
    approvals: Vec<VoteRecord>,
    #[serde(with = "time::serde::rfc3339")]
    requested_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    lapses_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    decided: Option<DecidedRecord>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PendingExtensionRecord {
    duration_seconds: u32,
    reason: String,
    requested_by: String,
    approval: RequestRecord,
}

#[derive(Debug, Serialize, Deserialize)]
struct ExtensionRecord {
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    by: String,
    duration_seconds: u32,
    reason: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

#[derive(Debug, Serialize, Deserialize)]
struct ReviewRecord {
    by: String,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    note: String,
}

impl RequestRecord {
    fn from_domain(r: &ApprovalRequest) -> Self {
        RequestRecord {
            approvals_required: r.approvals_required,
            approver_group_ids: r.approver_groups.iter().map(ToString::to_string).collect(),
            approvals: r
                .approvals
                .iter()
                .map(|v| VoteRecord {
                    by: v.by.to_string(),
                    via: v.via.clone(),
                    at: v.at,
                    reason: v.reason.clone(),
                })
                .collect(),
            requested_at: r.requested_at,
            lapses_at: r.lapses_at,
            decided: r.decided.as_ref().map(|d| DecidedRecord {
                outcome: d.outcome.as_str().into(),
                by: d.by.clone(),
                at: d.at,
                reason: d.reason.clone(),
            }),
        }
    }

    fn into_domain(self) -> Option<ApprovalRequest> {
        Some(ApprovalRequest {
            approvals_required: self.approvals_required,
            approver_groups: self
                .approver_group_ids
                .iter()
                .map(|g| GroupId::parse(g).ok())
                .collect::<Option<_>>()?,
            approvals: self
                .approvals
                .into_iter()
                .map(|v| {
                    Some(Vote {
                        by: Email::parse(&v.by).ok()?,
                        via: v.via,
                        at: v.at,
                        reason: v.reason,
                    })
                })
                .collect::<Option<_>>()?,
            requested_at: self.requested_at,
            lapses_at: self.lapses_at,
            decided: match self.decided {
                Some(d) => Some(Decided {
                    outcome: Outcome::parse(&d.outcome)?,
                    by: d.by,
                    at: d.at,
                    reason: d.reason,
                }),
                None => None,
            },
        })
    }
}

impl SessionRecord {
    pub(super) fn from_domain(x: &Session, due: Option<OffsetDateTime>) -> Self {
        let id = x.id.to_string();
        SessionRecord {
            pk: session_pk(&x.id),
            sk: "SESSION".into(),
            gsi1pk: format!("SESSIONS#{}", x.user),
            gsi1sk: id.clone(),
            // Finished sessions wait for their activity snapshot apart, so that no backlog of
            // snapshots ever stands between the expirer and a session to end.
            gsi2pk: due.map(|_| {
                if matches!(x.status, SessionStatus::Ended | SessionStatus::Expired) {
                    ACTIVITY_DUE_PARTITION.to_string()
                } else {
                    DUE_PARTITION.to_string()
                }
            }),
            gsi2sk: due.map(|at| due_sort(at, &id)),
            gsi3pk: ALL_PARTITION.into(),
            gsi3sk: id.clone(),
            entity: "session".into(),
            id,
            account_id: x.account_id.to_string(),
            aws_account_id: x.aws_account_id.to_string(),
            kind: x.kind.as_str().into(),
            user: x.user.to_string(),
            iam_user: x.iam_user.as_ref().map(ToString::to_string).unwrap_or_default(),
            identity_center: x.identity_center.as_ref().map(|ic| IcRecord {
                permission_set_arn: ic.permission_set.to_string(),
                permission_set_name: ic.permission_set_name.clone(),
                permission_set_seconds: ic.permission_set_seconds,
                user_id: ic.user_id.clone(),
                user_name: ic.user_name.clone(),
                outside: ic.outside.clone(),
            }),
            role_arn: x.role.as_ref().map(ToString::to_string),
            duration_seconds: x.duration_seconds,
            reason: x.reason.clone(),
            requested_by: x.requested_by.clone(),
            started_at: x.started_at,
            expires_at: x.expires_at,
            status: x.status.as_str().into(),
            ended_at: x.ending.as_ref().map(|e| e.at),
            revoked_at: x.ending.as_ref().and_then(|e| e.revoked_at),
            ended_by: x.ending.as_ref().map(|e| e.by.clone()),
            end_reason: x.ending.as_ref().map(|e| e.reason.clone()),
            end_outcome: x.ending.as_ref().map(|e| e.outcome.as_str().to_string()),
            revocation_failures: x.revocation_failures,
            last_error: x.last_error.clone(),
            log_key: x.log_key.clone(),
            log_head: x.log_head.clone(),
            version: x.version,
            credentials_expire_at: x.credentials_expire_at,
            switch_roles: x.switch_roles.iter().map(ToString::to_string).collect(),
            target: x.target.as_ref().map(ToString::to_string),
            ssm_sessions: x.ssm_sessions.clone(),
            request: x.request.as_ref().map(RequestRecord::from_domain),
            pending_extension: x.pending_extension.as_ref().map(|p| PendingExtensionRecord {
                duration_seconds: p.duration_seconds,
                reason: p.reason.clone(),
                requested_by: p.requested_by.clone(),
                approval: RequestRecord::from_domain(&p.approval),
            }),
            extensions: x
                .extensions
                .iter()
                .map(|e| ExtensionRecord {
                    at: e.at,
                    by: e.by.clone(),
                    duration_seconds: e.duration_seconds,
                    reason: e.reason.clone(),
                    expires_at: e.expires_at,
                })
                .collect(),
            break_glass: x.break_glass,
            reviewers: x.reviewers.iter().map(ToString::to_string).collect(),
            review: x.review.as_ref().map(|r| ReviewRecord {
                by: r.by.to_string(),
                at: r.at,
                note: r.note.clone(),
            }),
            activity_due_at: x.activity_due_at,
            activity: x.activity.as_ref().map(|a| ActivityRecord {
                at: a.at,
                events: a.events,
                truncated: a.truncated,
                error: a.error.clone(),
            }),
        }
    }

    pub(super) fn into_domain(self) -> Result<Session, StoreError> {
        let corrupt = |what: &str| StoreError::Unavailable(format!("stored session {} is corrupt: {what}", self.id));
        let ending = match (
            self.ended_at,
            self.ended_by,
            self.end_reason,
            self.end_outcome.as_deref().and_then(SessionStatus::parse),
        ) {
            (Some(at), Some(by), Some(reason), Some(outcome)) => Some(Ending {
                at,
                by,
                reason,
                outcome,
                revoked_at: self.revoked_at,
            }),
            _ => None,
        };
        let status = SessionStatus::parse(&self.status).ok_or_else(|| corrupt("status"))?;
        // Everything past `active` was claimed by an end, which the ending records; a request
        // decided against records its decision.
        let needs_ending = matches!(
            status,
            SessionStatus::Ending | SessionStatus::Ended | SessionStatus::Expired
        );
        if needs_ending && ending.is_none() {
            return Err(corrupt("ending"));
        }
        let request = match self.request {
            Some(r) => Some(r.into_domain().ok_or_else(|| corrupt("request"))?),
            None => None,
        };
        if (status == SessionStatus::Pending || status.is_refused_request()) && request.is_none() {
            return Err(corrupt("request"));
        }
        let pending_extension = match self.pending_extension {
            Some(p) => Some(PendingExtension {
                duration_seconds: p.duration_seconds,
                reason: p.reason,
                requested_by: p.requested_by,
                approval: p.approval.into_domain().ok_or_else(|| corrupt("pending extension"))?,
            }),
            None => None,
        };
        let review = match self.review {
            Some(r) => Some(Review {
                by: Email::parse(&r.by).map_err(|_| corrupt("review"))?,
                at: r.at,
                note: r.note,
            }),
            None => None,
        };
        let kind = SessionKind::parse(&self.kind).ok_or_else(|| corrupt("kind"))?;
        // A kind given through an IAM user names it; Identity Center's names its access.
        let iam_user = match kind.facts().uses_iam_user() {
            true => Some(IamUserName::parse(&self.iam_user).map_err(|_| corrupt("iam user"))?),
            false => None,
        };
        let identity_center = match (kind, self.identity_center) {
            (SessionKind::IdentityCenter, Some(ic)) => Some(IcAccess {
                permission_set: PermissionSetArn::parse(&ic.permission_set_arn)
                    .map_err(|_| corrupt("permission set"))?,
                permission_set_name: ic.permission_set_name,
                permission_set_seconds: ic.permission_set_seconds,
                user_id: ic.user_id,
                user_name: ic.user_name,
                outside: ic.outside,
            }),
            (SessionKind::IdentityCenter, None) => return Err(corrupt("identity center access")),
            _ => None,
        };
        Ok(Session {
            id: SessionId::parse(&self.id).map_err(|_| corrupt("id"))?,
            account_id: AccountId::parse(&self.account_id).map_err(|_| corrupt("account"))?,
            aws_account_id: AwsAccountId::parse(&self.aws_account_id).map_err(|_| corrupt("aws account"))?,
            kind,
            user: Email::parse(&self.user).map_err(|_| corrupt("user"))?,
            iam_user,
            identity_center,
            role: self
                .role_arn
                .as_deref()
                .map(RoleArn::parse)
                .transpose()
                .map_err(|_| corrupt("role"))?,
            target: self
                .target
                .as_deref()
                .map(crate::domain::shell::ShellTarget::parse)
                .transpose()
                .map_err(|_| corrupt("target"))?,
            ssm_sessions: self.ssm_sessions,
            duration_seconds: self.duration_seconds,
            reason: self.reason,
            requested_by: self.requested_by,
            started_at: self.started_at,
            expires_at: self.expires_at,
            status,
            ending,
            revocation_failures: self.revocation_failures,
            last_error: self.last_error,
            log_key: self.log_key,
            log_head: self.log_head,
            version: self.version,
            credentials_expire_at: self.credentials_expire_at,
            switch_roles: self
                .switch_roles
                .iter()
                .map(|r| RoleArn::parse(r))
                .collect::<Result<_, _>>()
                .map_err(|_| corrupt("switch roles"))?,
            request,
            pending_extension,
            extensions: self
                .extensions
                .into_iter()
                .map(|e| Extension {
                    at: e.at,
                    by: e.by,
                    duration_seconds: e.duration_seconds,
                    reason: e.reason,
                    expires_at: e.expires_at,
                })
                .collect(),
            break_glass: self.break_glass,
            reviewers: self
                .reviewers
                .iter()
                .map(|g| GroupId::parse(g))
                .collect::<Result<_, _>>()
                .map_err(|_| corrupt("reviewers"))?,
            review,
            activity_due_at: self.activity_due_at,
            activity: self.activity.map(|a| ActivitySnapshot {
                at: a.at,
                events: a.events,
                truncated: a.truncated,
                error: a.error,
            }),
        })
    }
}

/// An Identity Center session's access (`IcAccess`).
#[derive(Debug, Serialize, Deserialize)]
struct IcRecord {
    permission_set_arn: String,
    permission_set_name: String,
    permission_set_seconds: u32,
    user_id: String,
    user_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outside: Option<String>,
}
