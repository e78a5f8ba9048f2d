//! A session's activity: the AWS calls made with its access, read from the account's
//! CloudTrail event history for its owner and admins, and copied by the expirer into the
//! session's log once CloudTrail has delivered them, so they outlive event history's 90 days
//! (`crate::domain::activity` says which lookup and window).
//!
//! LookupEvents allows two calls a second per account and Region. Every call backs off on a
//! throttle (0.25, 0.5, 1 and 2 s); an answer still throttled after that returns what it has,
//! marked `partial`, with a cursor to go on from; a snapshot still throttled is retried a
//! minute later.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{SessionError, SessionService, rfc3339};
use crate::auth::{Principal, Role};
use crate::domain::activity::{
    self, ActivityCursor, ActivityEvent, ActivitySnapshot, LOOKUP_MAX_RESULTS, Lookup, SNAPSHOT_MAX_EVENTS,
};
use crate::domain::kind::CallsOf;
use crate::domain::{Account, Email, Region, Session, SessionId};
use crate::ports::{
    AccountAccess, CloudError, EventHistory, LogError, LookupError, LookupPage, LookupRequest, PageRequest, StoreError,
};

/// The waits between attempts of a throttled LookupEvents call.
const BACKOFF: [Duration; 4] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];
/// Snapshots one expirer run takes on at most; the rest wait for the next minute.
pub const SNAPSHOTS_PER_RUN: u32 = 25;
/// Accounts one run snapshots at once (each has its own LookupEvents rate).
const ACCOUNTS_AT_ONCE: usize = 4;
/// How long a run's claim on a snapshot holds before another run may take it over.
const SNAPSHOT_LEASE: time::Duration = time::Duration::minutes(5);
/// A throttled or failed snapshot is tried again this much later...
const SNAPSHOT_RETRY: time::Duration = time::Duration::minutes(1);
/// ...one CloudTrail refuses (no `cloudtrail:LookupEvents`), an hour later...
const SNAPSHOT_RETRY_REFUSED: time::Duration = time::Duration::hours(1);
/// ...until this long after it was due: then the log records why there is none.
const SNAPSHOT_GIVE_UP: time::Duration = time::Duration::days(2);

/// A page of a session's activity.
#[derive(Debug)]
pub struct ActivityAnswer {
    pub session: Session,
    /// `cloudtrail` (event history, now) or `session-log` (the snapshot in the verified log).
    pub source: &'static str,
    pub region: String,
    pub lookup: Lookup,
    /// The window looked in; `None` for a request never granted.
    pub window: Option<(OffsetDateTime, OffsetDateTime)>,
    pub events: Vec<ActivityEvent>,
    pub next_cursor: Option<String>,
    /// CloudTrail throttled the lookup before the page was full: go on with `next_cursor`.
    pub partial: bool,
    /// From the log: whether it verified (its chain, and its end where the record says).
    pub verified: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum ActivityError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("{step} failed: {error}")]
    Cloud { step: String, error: CloudError },
}

/// What the expirer's snapshots did in one run.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct SnapshotReport {
    pub copied: u32,
    /// Throttled, failed or refused: tried again later.
    pub retried: u32,
    /// Given up on: the log says why there is no copy.
    pub abandoned: u32,
}

/// One LookupEvents call, backing off while throttled.
async fn lookup_with_backoff(history: &dyn EventHistory, request: &LookupRequest) -> Result<LookupPage, LookupError> {
    let mut waits = BACKOFF.iter();
    loop {
        match history.lookup(request).await {
            Err(LookupError::Throttled(why)) => match waits.next() {
                Some(wait) => {
                    tracing::info!(wait_ms = wait.as_millis() as u64, "LookupEvents throttled; backing off");
                    tokio::time::sleep(*wait).await;
                }
                None => return Err(LookupError::Throttled(why)),
            },
            other => return other,
        }
    }
}

fn cloud(step: &str) -> impl FnOnce((String, CloudError)) -> ActivityError + '_ {
    move |(at, error)| ActivityError::Cloud {
        step: format!("{step} ({at})"),
        error,
    }
}

impl SessionService {
    /// A page of the calls made with `id`'s access in `region` (the account's own by
    /// default), newest first: from the session's log once the expirer has copied them there,
    /// from CloudTrail until then. For the session's user (or a bot acting for them) and admins.
    pub async fn activity(
        &self,
        principal: &Principal,
        id: &SessionId,
        on_behalf_of: Option<&Email>,
        region: Option<Region>,
        page: &PageRequest,
    ) -> Result<ActivityAnswer, ActivityError> {
        let session = self.get(principal, id, on_behalf_of).await?;
        let acting = match principal.role {
            Role::Bot => on_behalf_of.map(Email::as_str),
            _ => principal.email.as_deref(),
        };
        if !principal.role.reads_every_session() && acting != Some(session.user.as_str()) {
            return Err(
                SessionError::Denied("a session's activity is for its user, admins and auditors".into()).into(),
            );
        }
        let cursor = match &page.cursor {
            None => None,
            Some(raw) => Some(
                ActivityCursor::decode(raw)
                    .filter(|c| c.session == session.id.as_str() && Region::parse(&c.region).is_ok())
                    .ok_or(SessionError::BadCursor)?,
            ),
        };
        let asked = match (region, &cursor) {
            (Some(r), Some(c)) if r.as_str() != c.region => return Err(SessionError::BadCursor.into()),
            (Some(r), _) => Some(r.to_string()),
            (None, Some(c)) => Some(c.region.clone()),
            (None, None) => None,
        };
        let now = self.clock.now();
        let mut answer = ActivityAnswer {
            lookup: activity::lookup_of(&session),
            window: activity::window(&session, now),
            region: asked.clone().unwrap_or_default(),
            source: "cloudtrail",
            events: Vec::new(),
            next_cursor: None,
            partial: false,
            verified: None,
            session,
        };
        // Once copied, the log answers for the Regions it holds, even with the account gone.
        if answer.session.activity.as_ref().is_some_and(|a| a.error.is_none())
            && self
                .activity_from_log(&mut answer, asked.as_deref(), cursor.as_ref(), page.limit as usize)
                .await?
        {
            return Ok(answer);
        }
        let account = self.account_of(&answer.session).await?;
        answer.region = asked.unwrap_or_else(|| account.default_region.to_string());
        let Some((start, end)) = answer.window else {
            return Ok(answer);
        };
        // A page goes on with the window its first page used: CloudTrail's tokens hold only
        // with the same times, and a live session's window grows. An end outside the window
        // is not one this API made.
        let end = match cursor.as_ref().and_then(|c| c.end) {
            None => end,
            Some(e) => OffsetDateTime::from_unix_timestamp(e)
                .ok()
                .filter(|e| (start..=end).contains(e))
                .ok_or(SessionError::BadCursor)?,
        };
        answer.window = Some((start, end));
        let brokers_key = self.brokers_key(&answer.session).await?;
        let access = self
            .target
            .opened(&account)
            .await
            .map_err(cloud("open account credentials"))?;
        let history = self
            .target
            .history_with(&access, &answer.region)
            .await
            .map_err(cloud("connect to CloudTrail"))?;
        let mut token = cursor.as_ref().and_then(|c| c.token.clone());
        let mut more = true;
        while more && answer.events.len() < page.limit as usize {
            let want = (page.limit as usize - answer.events.len()).min(LOOKUP_MAX_RESULTS as usize);
            let request = LookupRequest {
                lookup: answer.lookup.clone(),
                start,
                end,
                max_results: want as u32,
                next_token: token.clone(),
            };
            match lookup_with_backoff(history.as_ref(), &request).await {
                Ok(found) => {
                    more = found.next_token.is_some();
                    token = found.next_token.clone();
                    answer.events.extend(own_events(found, brokers_key.as_deref()));
                }
                Err(LookupError::Throttled(why)) => {
                    tracing::warn!(session = %answer.session.id, why, "LookupEvents still throttled; answering partial");
                    answer.partial = true;
                    break;
                }
                Err(LookupError::BadToken(_)) => return Err(SessionError::BadCursor.into()),
                Err(LookupError::Cloud(error)) => {
                    return Err(ActivityError::Cloud {
                        step: "look up the session's events".into(),
                        error,
                    });
                }
            }
        }
        // Partial with nothing read yet goes on from where it was asked.
        if more || answer.partial {
            answer.next_cursor = Some(
                ActivityCursor {
                    session: answer.session.id.to_string(),
                    region: answer.region.clone(),
                    token,
                    offset: None,
                    end: Some(end.unix_timestamp()),
                }
                .encode(),
            );
        }
        Ok(answer)
    }

    async fn account_of(&self, session: &Session) -> Result<Account, SessionError> {
        self.accounts
            .get(&session.account_id)
            .await?
            .ok_or_else(|| SessionError::NotFound(session.id.clone()))
    }

    /// The key the broker holds for the IAM user whose calls a session's are (a console
    /// session's): calls made with it are the broker's (AssumeRole for the user's JIT and
    /// shell sessions), not the person's at the console. `None` for role sessions, found by
    /// their own session name.
    async fn brokers_key(&self, session: &Session) -> Result<Option<String>, SessionError> {
        let (CallsOf::IamUser, Some(iam_user)) = (session.kind.facts().calls_of(), &session.iam_user) else {
            return Ok(None);
        };
        let user = self.users.get(&session.account_id, iam_user).await?;
        Ok(user.and_then(|u| u.credential).map(|c| c.access_key_id.to_string()))
    }

    /// The page of the copy in the session's log for the Region asked (its account's default
    /// Region when none is): `false` when the copy does not hold that Region.
    async fn activity_from_log(
        &self,
        answer: &mut ActivityAnswer,
        asked: Option<&str>,
        cursor: Option<&ActivityCursor>,
        limit: usize,
    ) -> Result<bool, ActivityError> {
        let session = &answer.session;
        let (events, verified) = self.verified_log(session).await?;
        let verified = verified.is_ok();
        let Some(copy) = events.iter().rev().find(|e| e["type"] == "activity") else {
            return Ok(false);
        };
        let copy = &copy["activity"];
        let Some(region) = asked.or(copy["default_region"].as_str()) else {
            return Ok(false);
        };
        let Some(list) = copy["regions"][region]["events"].as_array() else {
            return Ok(false);
        };
        let copied: Vec<ActivityEvent> = list
            .iter()
            .filter_map(|e| serde_json::from_value(e.clone()).ok())
            .collect();
        let from = cursor.and_then(|c| c.offset).unwrap_or(0).min(copied.len());
        let to = (from + limit).min(copied.len());
        answer.source = "session-log";
        answer.region = region.to_string();
        answer.verified = Some(verified);
        answer.events = copied[from..to].to_vec();
        if to < copied.len() {
            answer.next_cursor = Some(
                ActivityCursor {
                    session: session.id.to_string(),
                    region: region.to_string(),
                    token: None,
                    offset: Some(to),
                    end: None,
                }
                .encode(),
            );
        }
        Ok(true)
    }

    /// The expirer's part: copies the activity of ended sessions whose snapshot is due into
    /// their logs, starting none after `deadline` (and abandoning, to retry, a copy that would
    /// run past it). Accounts are worked on concurrently, each account's sessions one at a time
    /// (they share its LookupEvents rate).
    pub async fn snapshot_activity_due(&self, limit: u32, deadline: Instant) -> Result<SnapshotReport, SessionError> {
        use futures::StreamExt;
        let due = self.sessions.activity_due(self.clock.now(), limit).await?;
        let mut by_account: BTreeMap<String, Vec<Session>> = BTreeMap::new();
        for session in due.sessions {
            by_account
                .entry(session.account_id.to_string())
                .or_default()
                .push(session);
        }
        let reports: Vec<SnapshotReport> = futures::stream::iter(by_account.into_values())
            .map(|sessions| self.snapshot_account(sessions, deadline))
            .buffer_unordered(ACCOUNTS_AT_ONCE)
            .collect()
            .await;
        let mut report = SnapshotReport::default();
        for r in reports {
            report.copied += r.copied;
            report.retried += r.retried;
            report.abandoned += r.abandoned;
        }
        Ok(report)
    }

    async fn snapshot_account(&self, sessions: Vec<Session>, deadline: Instant) -> SnapshotReport {
        let mut report = SnapshotReport::default();
        let account = match self.accounts.get(&sessions[0].account_id).await {
            Ok(account) => account,
            Err(e) => {
                tracing::warn!(error = %e, "reading an account for activity snapshots failed; they stay due");
                report.retried += sessions.len() as u32;
                return report;
            }
        };
        let mut access = None;
        for session in sessions {
            if Instant::now() >= deadline {
                break;
            }
            // Claimed first (version-checked), so overlapping runs do not both copy.
            let mut session = session;
            let now = self.clock.now();
            session.activity_due_at = Some(now + SNAPSHOT_LEASE);
            session.version += 1;
            match self.sessions.save(&session, None).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => {
                    tracing::warn!(session = %session.id, error = %e, "claiming an activity snapshot failed; it stays due");
                    report.retried += 1;
                    continue;
                }
            }
            let outcome = match &account {
                None => Err(Copy::Refused("the session's account is no longer registered".into())),
                Some(account) => {
                    if access.is_none() {
                        access = Some(self.target.opened(account).await);
                    }
                    match access.as_ref().expect("just opened") {
                        Ok(access) => self.copy_activity(&session, account, access, deadline).await,
                        Err((step, e)) => Err(Copy::Retry(format!("{step}: {e}"))),
                    }
                }
            };
            match self.settle_snapshot(session, outcome).await {
                Settled::Copied => report.copied += 1,
                Settled::Retried => report.retried += 1,
                Settled::Abandoned => report.abandoned += 1,
            }
        }
        report
    }

    /// Reads the session's events in each Region a snapshot covers.
    async fn copy_activity(
        &self,
        session: &Session,
        account: &Account,
        access: &AccountAccess,
        deadline: Instant,
    ) -> Result<Value, Copy> {
        let now = self.clock.now();
        let (start, end) = activity::window(session, now).ok_or_else(|| Copy::Refused("never granted".into()))?;
        let lookup = activity::lookup_of(session);
        let brokers_key = self
            .brokers_key(session)
            .await
            .map_err(|e| Copy::Retry(format!("read the session's user: {e}")))?;
        let mut regions = serde_json::Map::new();
        for region in activity::snapshot_regions(account.default_region.as_str()) {
            let history = self
                .target
                .history_with(access, &region)
                .await
                .map_err(|(step, e)| Copy::from_cloud(&step, e))?;
            let mut events = Vec::new();
            let mut token = None;
            let mut truncated = false;
            loop {
                if Instant::now() >= deadline {
                    return Err(Copy::Retry(
                        "the run's time was up; the copy starts again next run".into(),
                    ));
                }
                let request = LookupRequest {
                    lookup: lookup.clone(),
                    start,
                    end,
                    max_results: LOOKUP_MAX_RESULTS,
                    next_token: token.take(),
                };
                let page = match lookup_with_backoff(history.as_ref(), &request).await {
                    Ok(page) => page,
                    Err(LookupError::Throttled(why)) => return Err(Copy::Retry(why)),
                    Err(LookupError::BadToken(why)) => return Err(Copy::Retry(why)),
                    Err(LookupError::Cloud(e)) => return Err(Copy::from_cloud("look up the session's events", e)),
                };
                let next = page.next_token.clone();
                events.extend(own_events(page, brokers_key.as_deref()));
                if events.len() >= SNAPSHOT_MAX_EVENTS {
                    truncated = next.is_some() || events.len() > SNAPSHOT_MAX_EVENTS;
                    events.truncate(SNAPSHOT_MAX_EVENTS);
                    break;
                }
                match next {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
            regions.insert(region, json!({ "events": events, "truncated": truncated }));
        }
        Ok(json!({
            "lookup": { "attribute": lookup.attribute, "value": lookup.value },
            "from": rfc3339(start),
            "to": rfc3339(end),
            "default_region": account.default_region.to_string(),
            "regions": regions,
        }))
    }

    /// Logs the copy (or, once given up on, why there is none) and takes the session out of
    /// the snapshots' due index; or puts it back for a later try.
    async fn settle_snapshot(&self, mut session: Session, outcome: Result<Value, Copy>) -> Settled {
        let now = self.clock.now();
        let due_since = activity::snapshot_due(&session).unwrap_or(now);
        let (body, snapshot) = match outcome {
            Ok(copied) => {
                let regions = copied["regions"].as_object().cloned().unwrap_or_default();
                let count = regions
                    .values()
                    .map(|r| r["events"].as_array().map_or(0, Vec::len))
                    .sum::<usize>();
                let truncated = regions.values().any(|r| r["truncated"] == true);
                let snapshot = ActivitySnapshot {
                    at: now,
                    events: count as u32,
                    truncated,
                    error: None,
                };
                (json!({ "activity": copied }), snapshot)
            }
            Err(failure) => {
                let (why, retry_in) = match &failure {
                    Copy::Retry(why) => (why.clone(), SNAPSHOT_RETRY),
                    Copy::Refused(why) => (why.clone(), SNAPSHOT_RETRY_REFUSED),
                };
                if now - due_since < SNAPSHOT_GIVE_UP {
                    tracing::warn!(session = %session.id, why, "copying a session's activity failed; tried again later");
                    session.activity_due_at = Some(now + retry_in);
                    session.version += 1;
                    if let Err(e) = self.sessions.save(&session, None).await {
                        tracing::warn!(session = %session.id, error = %e, "rescheduling an activity snapshot failed");
                    }
                    return Settled::Retried;
                }
                tracing::error!(session = %session.id, why, alarm = "activity-unavailable", "a session's activity could not be copied; its log says why");
                let snapshot = ActivitySnapshot {
                    at: now,
                    events: 0,
                    truncated: false,
                    error: Some(why.clone()),
                };
                (json!({ "activity_error": why }), snapshot)
            }
        };
        let copied = snapshot.error.is_none();
        let event = self.session_event("activity", format!("{}:activity", session.id), &session, body);
        session.activity = Some(snapshot);
        session.activity_due_at = None;
        let before = session.version;
        // Only onto a log that still ends where the session's record says: the broker's append
        // would carry a replaced log forward as its own (the digest's head-mismatch check would
        // then vouch for it).
        match self.log_and_keep_head_checked(&mut session, event, true).await {
            Err(LogError::Tampered(why)) => {
                tracing::error!(session = %session.id, why, alarm = "log-tampered", "the session's log does not end where its record says; its activity was not appended");
                session.activity = Some(ActivitySnapshot {
                    at: now,
                    events: 0,
                    truncated: false,
                    error: Some("the session's log does not end where its record says; nothing was appended".into()),
                });
                session.version += 1;
                return match self.sessions.save(&session, None).await {
                    Ok(()) => Settled::Abandoned,
                    Err(_) => Settled::Retried,
                };
            }
            Err(_) => {
                // The log could not be written: copied again a minute on.
                session.activity = None;
                session.activity_due_at = Some(now + SNAPSHOT_RETRY);
                session.version += 1;
                let _ = self.sessions.save(&session, None).await;
                return Settled::Retried;
            }
            // Not saved (lost to another writer): still due, so the next run goes on.
            Ok(()) if session.version == before => return Settled::Retried,
            Ok(()) => {}
        }
        if copied { Settled::Copied } else { Settled::Abandoned }
    }
}

/// Why a copy did not happen.
enum Copy {
    /// Throttled, or AWS failing: soon again.
    Retry(String),
    /// Refused (no permission, no account): later again, then given up on.
    Refused(String),
}

impl Copy {
    fn from_cloud(step: &str, e: CloudError) -> Self {
        match e {
            CloudError::Refused(why) | CloudError::NotFound(why) => Copy::Refused(format!("{step}: {why}")),
            other => Copy::Retry(format!("{step}: {other}")),
        }
    }
}

enum Settled {
    Copied,
    Retried,
    Abandoned,
}

/// A page's events that are the session's: for a console session, not those made with the key
/// the broker holds for its IAM user.
fn own_events(page: LookupPage, brokers_key: Option<&str>) -> impl Iterator<Item = ActivityEvent> + '_ {
    page.events
        .into_iter()
        .filter(move |e| brokers_key.is_none() || e.access_key_id.as_deref() != brokers_key)
        .map(ActivityEvent::from_lookup)
}
