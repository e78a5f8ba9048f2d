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
use crate::domain::{Account, Email, Region, Session, SessionId};
use crate::ports::{AccountAccess, CloudError, EventHistory, LookupError, LookupPage, LookupRequest, PageRequest};

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
/// A run starts no snapshot after this long, leaving the expirer's 120 s to the rest.
const SNAPSHOT_BUDGET: Duration = Duration::from_secs(60);
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
        if principal.role != Role::Admin && acting != Some(session.user.as_str()) {
            return Err(SessionError::Denied("a session's activity is for its user and admins".into()).into());
        }
        let cursor = match &page.cursor {
            None => None,
            Some(raw) => Some(
                ActivityCursor::decode(raw)
                    .filter(|c| c.session == session.id.as_str())
                    .ok_or(SessionError::BadCursor)?,
            ),
        };
        let account = self
            .accounts
            .get(&session.account_id)
            .await
            .map_err(SessionError::from)?
            .ok_or_else(|| SessionError::Unavailable("the session's account is gone".into()))?;
        let region = match (region, &cursor) {
            (Some(r), Some(c)) if r.as_str() != c.region => return Err(SessionError::BadCursor.into()),
            (Some(r), _) => r.to_string(),
            (None, Some(c)) => c.region.clone(),
            (None, None) => account.default_region.to_string(),
        };
        let now = self.clock.now();
        let mut answer = ActivityAnswer {
            lookup: activity::lookup_of(&session),
            window: activity::window(&session, now),
            region,
            source: "cloudtrail",
            events: Vec::new(),
            next_cursor: None,
            partial: false,
            verified: None,
            session,
        };
        let Some((start, end)) = answer.window else {
            return Ok(answer);
        };
        let snapshotted = answer.session.activity.as_ref().is_some_and(|a| a.error.is_none());
        if snapshotted && activity::snapshot_regions(account.default_region.as_str()).contains(&answer.region) {
            self.activity_from_log(&mut answer, cursor.and_then(|c| c.offset), page.limit as usize)
                .await?;
            return Ok(answer);
        }
        // A page goes on with the window its first page used: CloudTrail's tokens hold only
        // with the same times, and a live session's window grows.
        let end = cursor
            .as_ref()
            .and_then(|c| c.end)
            .and_then(|e| OffsetDateTime::from_unix_timestamp(e).ok())
            .unwrap_or(end);
        answer.window = Some((start, end));
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
                    answer
                        .events
                        .extend(found.events.into_iter().map(ActivityEvent::from_lookup));
                    more = found.next_token.is_some();
                    token = found.next_token;
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

    /// The page at `offset` of the snapshot of `answer.region` in the session's log.
    async fn activity_from_log(
        &self,
        answer: &mut ActivityAnswer,
        offset: Option<usize>,
        limit: usize,
    ) -> Result<(), ActivityError> {
        answer.source = "session-log";
        let session = &answer.session;
        let content = self
            .log
            .read(&session.log_key)
            .await
            .map_err(|e| SessionError::Unavailable(e.to_string()))?
            .unwrap_or_default();
        let (events, verified) = match crate::domain::log_chain::verify(&session.log_key, &content) {
            Ok((events, head)) => (events, head == session.log_head),
            Err(_) => (Vec::new(), false),
        };
        answer.verified = Some(verified);
        let copied: Vec<ActivityEvent> = events
            .iter()
            .rev()
            .find(|e| e["type"] == "activity")
            .and_then(|e| e["activity"]["regions"][answer.region.as_str()]["events"].as_array())
            .map(|list| {
                list.iter()
                    .filter_map(|e| serde_json::from_value(e.clone()).ok())
                    .collect()
            })
            .unwrap_or_default();
        let from = offset.unwrap_or(0).min(copied.len());
        let to = (from + limit).min(copied.len());
        answer.events = copied[from..to].to_vec();
        if to < copied.len() {
            answer.next_cursor = Some(
                ActivityCursor {
                    session: session.id.to_string(),
                    region: answer.region.clone(),
                    token: None,
                    offset: Some(to),
                    end: None,
                }
                .encode(),
            );
        }
        Ok(())
    }

    /// The expirer's part: copies the activity of ended sessions whose snapshot is due into
    /// their logs. Accounts are worked on concurrently, each account's sessions one at a time
    /// (they share its LookupEvents rate).
    pub async fn snapshot_activity_due(&self, limit: u32) -> Result<SnapshotReport, SessionError> {
        use futures::StreamExt;
        let began = Instant::now();
        let due = self.sessions.activity_due(self.clock.now(), limit).await?;
        let mut by_account: BTreeMap<String, Vec<Session>> = BTreeMap::new();
        for session in due.sessions {
            by_account
                .entry(session.account_id.to_string())
                .or_default()
                .push(session);
        }
        let reports: Vec<SnapshotReport> = futures::stream::iter(by_account.into_values())
            .map(|sessions| self.snapshot_account(sessions, began))
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

    async fn snapshot_account(&self, sessions: Vec<Session>, began: Instant) -> SnapshotReport {
        let mut report = SnapshotReport::default();
        let account = match self.accounts.get(&sessions[0].account_id).await {
            Ok(Some(account)) => Some(account),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "reading an account for activity snapshots failed; they stay due");
                report.retried += sessions.len() as u32;
                return report;
            }
        };
        let access = match &account {
            Some(account) => Some(self.target.opened(account).await),
            None => None,
        };
        for session in sessions {
            if began.elapsed() > SNAPSHOT_BUDGET {
                break;
            }
            let outcome = match (&account, &access) {
                (Some(account), Some(Ok(access))) => self.copy_activity(&session, account, access).await,
                (Some(_), Some(Err((step, e)))) => Err(Copy::Retry(format!("{step}: {e}"))),
                _ => Err(Copy::Refused("the session's account is no longer registered".into())),
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
    async fn copy_activity(&self, session: &Session, account: &Account, access: &AccountAccess) -> Result<Value, Copy> {
        let now = self.clock.now();
        let (start, end) = activity::window(session, now).ok_or_else(|| Copy::Refused("never granted".into()))?;
        let lookup = activity::lookup_of(session);
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
                events.extend(page.events.into_iter().map(ActivityEvent::from_lookup));
                if events.len() >= SNAPSHOT_MAX_EVENTS {
                    truncated = page.next_token.is_some() || events.len() > SNAPSHOT_MAX_EVENTS;
                    events.truncate(SNAPSHOT_MAX_EVENTS);
                    break;
                }
                match page.next_token {
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
        self.log_and_keep_head(&mut session, event).await;
        if session.version == before {
            // Not saved (the log or the record refused): still due, so the next run goes on.
            return Settled::Retried;
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
