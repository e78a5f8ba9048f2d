//! A session's activity: the AWS API calls made with its access, as CloudTrail event history
//! (`LookupEvents`) records them. This module owns which lookup finds a session's calls, over
//! which window, when the expirer snapshots them into the session's log, and the shape of one
//! event as the broker shows it (never a call's parameters or answer).
//!
//! Why by user name and not by access key id: a JIT session's calls come from more than one
//! key (the credentials handed out, those of each extension, and the federated console
//! session its sign-in link opens, which CloudTrail records under a key of its own). All of
//! them are the role session the broker named `cib-<session id>`, which event history lists
//! as the user name. A console session is its IAM user, so its window bounds it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use super::kind::CallsOf;
use super::{Session, SessionStatus};

/// CloudTrail delivers an event "within about 15 minutes" of the call (Event history, CloudTrail
/// User Guide): a snapshot taken sooner could miss the session's last calls.
pub const DELIVERY_DELAY: Duration = Duration::minutes(15);
/// Calls after an end began are still the session's (refused once IAM applies the deny, which
/// takes seconds): the window stays open this long past it.
pub const END_TAIL: Duration = Duration::minutes(5);
/// Clock skew between the broker and AWS at the window's start.
pub const START_SKEW: Duration = Duration::minutes(1);
/// LookupEvents answers at most this many events a call.
pub const LOOKUP_MAX_RESULTS: u32 = 50;
/// The most events a snapshot keeps per Region (the log is one S3 object, read whole).
pub const SNAPSHOT_MAX_EVENTS: usize = 2_000;
/// The Region CloudTrail records global services' calls in (IAM, STS's global endpoint,
/// CloudFront, the console sign-in of most partitions).
pub const GLOBAL_REGION: &str = "us-east-1";
/// What every answer says of freshness.
pub const NOTE: &str = "CloudTrail delivers events within about 15 minutes of the call, so the newest calls \
    may not be listed yet; event history keeps 90 days of management events (not data events such as S3 object \
    reads) per Region, and the broker copies each session's activity into its log 15 minutes after the session's \
    window closes";

/// Which of event history's lookup attributes finds a session's calls, and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// `Username` (one of LookupEvents' attribute keys).
    pub attribute: &'static str,
    pub value: String,
}

/// The lookup that finds `session`'s calls: its role session's name, or its IAM user.
pub fn lookup_of(session: &Session) -> Lookup {
    let value = match session.kind.facts().calls_of() {
        CallsOf::RoleSession => session.id.role_session_name(),
        CallsOf::IamUser => session.iam_user.as_ref().map(ToString::to_string).unwrap_or_default(),
        CallsOf::IdentityCenterUser => session
            .identity_center
            .as_ref()
            .map(|ic| ic.user_name.clone())
            .unwrap_or_default(),
    };
    Lookup {
        attribute: "Username",
        value,
    }
}

/// The times the session's calls fall in: from its start to `now` while it is live, to a
/// little after its revocation completed once it has ended (a revocation retried for a while
/// leaves the credentials working until then). `None` for a request never granted.
pub fn window(session: &Session, now: OffsetDateTime) -> Option<(OffsetDateTime, OffsetDateTime)> {
    if session.status == SessionStatus::Pending || session.status.is_refused_request() {
        return None;
    }
    let start = session.started_at - START_SKEW;
    let end = match &session.ending {
        Some(ending) if !session.status.is_live() => ending.revoked_at.unwrap_or(ending.at) + END_TAIL,
        _ => now,
    };
    Some((start, end.min(now).max(start)))
}

/// When the expirer copies a session's activity into its log: once its window has closed and
/// CloudTrail has delivered what fell in it. `None` for a request never granted.
pub fn snapshot_due(session: &Session) -> Option<OffsetDateTime> {
    if session.status.is_live() || session.status == SessionStatus::Pending || session.status.is_refused_request() {
        return None;
    }
    let revoked = session
        .ending
        .as_ref()
        .map_or(session.expires_at, |e| e.revoked_at.unwrap_or(e.at));
    Some(revoked + END_TAIL + DELIVERY_DELAY)
}

/// The Regions a snapshot covers: the account's own and the one global services log to.
pub fn snapshot_regions(default_region: &str) -> Vec<String> {
    let mut regions = vec![default_region.to_string()];
    if default_region != GLOBAL_REGION {
        regions.push(GLOBAL_REGION.to_string());
    }
    regions
}

/// That a session's activity is in its log (or could not be).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivitySnapshot {
    pub at: OffsetDateTime,
    /// Events copied, all Regions together.
    pub events: u32,
    /// Some Region had more than `SNAPSHOT_MAX_EVENTS`.
    pub truncated: bool,
    /// Why there is no snapshot (CloudTrail refused the broker); `None` when there is one.
    pub error: Option<String>,
}

/// One call, as the broker shows it: who, what, where, and whether AWS refused it. Never the
/// request's parameters or the response, which may hold anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityEvent {
    pub event_id: String,
    /// RFC 3339, UTC (`None` if CloudTrail gave none).
    pub event_time: Option<String>,
    pub event_name: String,
    pub event_source: String,
    pub aws_region: Option<String>,
    pub read_only: Option<bool>,
    /// AWS's error code when the call failed (`AccessDenied` after a revocation, say).
    pub error_code: Option<String>,
    pub access_key_id: Option<String>,
    pub username: Option<String>,
    /// The caller's ARN (for a role session, `…:assumed-role/<role>/cib-<session id>`).
    pub principal_arn: Option<String>,
    /// The identity the broker set on the role session (the user's e-mail).
    pub source_identity: Option<String>,
    pub source_ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub resources: Vec<ActivityResource>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityResource {
    #[serde(rename = "type")]
    pub resource_type: Option<String>,
    pub name: Option<String>,
}

/// What LookupEvents says of one event, before the broker's reading of its record.
#[derive(Debug, Clone, Default)]
pub struct LookedUp {
    pub event_id: String,
    pub event_name: String,
    pub event_time: Option<OffsetDateTime>,
    pub event_source: String,
    pub read_only: Option<String>,
    pub access_key_id: Option<String>,
    pub username: Option<String>,
    pub resources: Vec<ActivityResource>,
    /// The event's record, a JSON document (CloudTrailEvent).
    pub record: Option<String>,
}

impl ActivityEvent {
    /// Reads the fields the broker shows from LookupEvents' summary and the event's record
    /// (an unreadable record leaves its fields out, it does not drop the event).
    pub fn from_lookup(e: LookedUp) -> Self {
        let record: Value = e
            .record
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or(Value::Null);
        let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
        let identity = &record["userIdentity"];
        let read_only = match e.read_only.as_deref() {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => record["readOnly"].as_bool(),
        };
        ActivityEvent {
            event_id: e.event_id,
            event_time: e
                .event_time
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                .or_else(|| text(&record["eventTime"])),
            event_name: e.event_name,
            event_source: e.event_source,
            aws_region: text(&record["awsRegion"]),
            read_only,
            error_code: text(&record["errorCode"]),
            access_key_id: e.access_key_id.or_else(|| text(&identity["accessKeyId"])),
            username: e.username,
            principal_arn: text(&identity["arn"]),
            source_identity: text(&identity["sessionContext"]["sourceIdentity"])
                .or_else(|| text(&record["sourceIdentity"])),
            source_ip_address: text(&record["sourceIPAddress"]),
            user_agent: text(&record["userAgent"]),
            resources: e.resources,
        }
    }
}

/// Where the next page of an activity answer starts: a Region's LookupEvents token, or (once
/// the activity is in the log) a position in the snapshot. Opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityCursor {
    /// The session it pages; a cursor of another session is refused.
    #[serde(rename = "s")]
    pub session: String,
    #[serde(rename = "r")]
    pub region: String,
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
    /// The window's end the first page used (epoch seconds): CloudTrail's token holds only
    /// with the same times.
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub end: Option<i64>,
}

impl ActivityCursor {
    pub fn encode(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(raw: &str) -> Option<Self> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SessionKind;

    fn looked_up(record: &str) -> LookedUp {
        LookedUp {
            event_id: "e-1".into(),
            event_name: "ListBuckets".into(),
            event_time: Some(time::macros::datetime!(2026-11-24 10:00:00 UTC)),
            event_source: "s3.amazonaws.com".into(),
            read_only: Some("true".into()),
            access_key_id: Some("ASIAEXAMPLE".into()),
            username: Some("cib-01J".into()),
            resources: Vec::new(),
            record: Some(record.into()),
        }
    }

    #[test]
    fn an_event_shows_who_and_what_never_the_parameters() {
        // The shape of an AssumedRole record (CloudTrail User Guide, "userIdentity element").
        let record = r#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/Jit/cib-01J","accessKeyId":"ASIAEXAMPLE","sessionContext":{"sourceIdentity":"ana@example.com"}},"eventTime":"2026-11-24T10:00:00Z","awsRegion":"eu-west-1","sourceIPAddress":"192.0.2.1","userAgent":"aws-cli/2","errorCode":"AccessDenied","requestParameters":{"secret":"x"}}"#;
        let e = ActivityEvent::from_lookup(looked_up(record));
        assert_eq!(e.event_time.as_deref(), Some("2026-11-24T10:00:00Z"));
        assert_eq!(e.read_only, Some(true));
        assert_eq!(e.error_code.as_deref(), Some("AccessDenied"));
        assert_eq!(e.source_identity.as_deref(), Some("ana@example.com"));
        assert_eq!(e.aws_region.as_deref(), Some("eu-west-1"));
        assert!(!serde_json::to_string(&e).unwrap().contains("secret"));
    }

    #[test]
    fn an_unreadable_record_keeps_the_summary() {
        let e = ActivityEvent::from_lookup(looked_up("not json"));
        assert_eq!(e.event_name, "ListBuckets");
        assert_eq!(e.principal_arn, None);
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = ActivityCursor {
            session: "s".into(),
            region: "eu-west-1".into(),
            token: Some("t/+=".into()),
            offset: None,
            end: Some(1_700_000_000),
        };
        assert_eq!(ActivityCursor::decode(&c.encode()), Some(c));
        assert_eq!(ActivityCursor::decode("!!"), None);
        assert_eq!(ActivityCursor::decode("e30"), None, "{{}} lacks the session");
    }

    fn session(kind: SessionKind) -> Session {
        use crate::domain::{AccountId, AwsAccountId, Email, IamUserName, SessionId};
        let at = time::macros::datetime!(2026-11-24 10:00:00 UTC);
        Session {
            id: SessionId::parse("01J0000000000000000000000A").unwrap(),
            account_id: AccountId::generate(),
            aws_account_id: AwsAccountId::parse("111122223333").unwrap(),
            kind,
            user: Email::parse("ana@example.com").unwrap(),
            iam_user: Some(IamUserName::parse("ana@example.com").unwrap()),
            identity_center: None,
            role: None,
            target: None,
            ssm_sessions: Vec::new(),
            duration_seconds: 3600,
            reason: "why".into(),
            requested_by: "ana@example.com".into(),
            started_at: at,
            expires_at: at + Duration::hours(1),
            status: SessionStatus::Active,
            ending: None,
            revocation_failures: 0,
            last_error: None,
            log_key: String::new(),
            log_head: String::new(),
            version: 1,
            credentials_expire_at: None,
            switch_roles: Vec::new(),
            request: None,
            pending_extension: None,
            extensions: Vec::new(),
            break_glass: false,
            reviewers: Vec::new(),
            review: None,
            activity_due_at: None,
            activity: None,
        }
    }

    #[test]
    fn role_sessions_are_found_by_their_session_name_console_ones_by_their_user() {
        assert_eq!(
            lookup_of(&session(SessionKind::Jit)).value,
            "cib-01J0000000000000000000000A"
        );
        assert_eq!(
            lookup_of(&session(SessionKind::Shell)).value,
            "cib-01J0000000000000000000000A"
        );
        assert_eq!(lookup_of(&session(SessionKind::Console)).value, "ana@example.com");
    }

    #[test]
    fn the_window_runs_to_now_while_live_and_a_little_past_the_end_after() {
        let mut s = session(SessionKind::Jit);
        let start = s.started_at;
        let now = start + Duration::minutes(10);
        assert_eq!(window(&s, now), Some((start - START_SKEW, now)));
        assert_eq!(snapshot_due(&s), None, "no copy while live");
        let ended = start + Duration::minutes(20);
        s.status = SessionStatus::Ended;
        s.ending = Some(crate::domain::Ending {
            at: ended,
            by: "ana@example.com".into(),
            reason: "done".into(),
            outcome: SessionStatus::Ended,
            revoked_at: None,
        });
        let later = ended + Duration::hours(3);
        assert_eq!(window(&s, later), Some((start - START_SKEW, ended + END_TAIL)));
        // Asked during the tail: up to now only.
        assert_eq!(
            window(&s, ended + Duration::minutes(1)).unwrap().1,
            ended + Duration::minutes(1)
        );
        assert_eq!(snapshot_due(&s), Some(ended + END_TAIL + DELIVERY_DELAY));
        // A revocation retried for an hour: the credentials worked until it completed.
        let revoked = ended + Duration::hours(1);
        s.ending.as_mut().unwrap().revoked_at = Some(revoked);
        assert_eq!(window(&s, later).unwrap().1, revoked + END_TAIL);
        assert_eq!(snapshot_due(&s), Some(revoked + END_TAIL + DELIVERY_DELAY));
        s.status = SessionStatus::Denied;
        assert_eq!(window(&s, later), None, "a request never granted made no calls");
        assert_eq!(snapshot_due(&s), None);
    }

    #[test]
    fn snapshots_cover_the_accounts_region_and_the_global_one() {
        assert_eq!(snapshot_regions("eu-west-1"), vec!["eu-west-1", "us-east-1"]);
        assert_eq!(snapshot_regions("us-east-1"), vec!["us-east-1"]);
    }
}
