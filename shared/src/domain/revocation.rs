//! Which sessions are revoked on one role, and the IAM deny documents that say so.
//!
//! The record here is the authority: it is kept in DynamoDB, and the role's policies are
//! rendered from it, never read-modified-written from IAM's copy (IAM reads are eventually
//! consistent, so a read-modify-write can drop a deny another writer just added).
//!
//! # Per session
//! A role session's `aws:userid` is `<role id>:<RoleSessionName>`. A JIT session is named
//! `cib-<session id>` (a ULID), so a deny on `aws:userid` like `*<the id's last 16 characters>`
//! (its 80 random bits) hits that session, a console sign-in made from its credentials (same
//! identity), and nothing else; the user's other sessions have other ids. A console session's
//! switch-role sessions are named after the IAM user, and a user has at most one console
//! session per account at a time, so those are cut by user name and token issue time.
//!
//! # Size: no cliff
//! One revoked JIT session costs 20 characters. IAM limits a role's inline policies to 10 240
//! characters together and a managed policy to 6 144, so the deny list is laid out as pages:
//! page 0 is the role's inline policy (with room left for the role's own inline policies),
//! pages 1.. are customer managed policies attached to the role. With the default budgets
//! that holds about 1 550 revoked-but-still-valid sessions per role; past that, rendering
//! refuses (and the revocation stays due and alarms) rather than dropping a deny.
//! Entries leave once every credential they cover is dead.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::SessionId;

/// The role's inline policy holding page 0.
pub const REVOCATIONS_POLICY: &str = "CloudIamBrokerRevocations";
/// Characters page 0 may use: IAM's 10 240 for all of a role's inline policies, less room
/// for the role's own.
pub const INLINE_BUDGET: usize = 8_000;
/// Characters a managed page may use (IAM's limit is 6 144).
pub const MANAGED_BUDGET: usize = 6_000;
/// Managed pages per role at most: each takes one of the role's 10 (by default) attachments.
pub const MAX_MANAGED_PAGES: usize = 4;
/// Characters of a session id that identify it in a deny (the ULID's random part).
const ID_SUFFIX: usize = 16;

/// A console user's switch-role sessions issued before `issued_before` are revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleCut {
    pub issued_before: OffsetDateTime,
    /// Unix time after which no token it covers can be alive.
    pub dead_after: i64,
}

/// The revocations on one role.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoleRevocations {
    /// Revoked JIT sessions whose credentials may still be valid: id → unix time after
    /// which they are dead.
    pub sessions: BTreeMap<SessionId, i64>,
    /// Console users (IAM user names) whose switched role sessions are cut.
    pub console: BTreeMap<String, ConsoleCut>,
    /// How many managed pages have ever been written (so emptied ones are cleared too).
    pub managed_pages: usize,
    /// Optimistic concurrency: the stored record's version.
    pub version: u64,
}

/// One more revocation to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cut {
    Session {
        id: SessionId,
        dead_after: i64,
    },
    Console {
        user: String,
        issued_before: OffsetDateTime,
        dead_after: i64,
    },
}

/// The documents to write, page by page. `None` for page 0 means "no inline policy";
/// for a managed page, a document that denies nothing (so the attachment can stay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub inline: Option<String>,
    pub managed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{sessions} revoked sessions still valid on this role exceed what IAM's policy size limits hold ({capacity}); revocation is refused rather than dropping a deny"
)]
pub struct Overflow {
    pub sessions: usize,
    pub capacity: usize,
}

/// The `aws:userid` pattern that matches the JIT session `id` and nothing else.
pub fn session_pattern(id: &SessionId) -> String {
    let s = id.as_str();
    format!("*{}", &s[s.len().saturating_sub(ID_SUFFIX)..])
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl RoleRevocations {
    /// Adds cuts; a later console cut for the same user widens the earlier one.
    pub fn apply(&mut self, cuts: &[Cut]) {
        for cut in cuts {
            match cut {
                Cut::Session { id, dead_after } => {
                    let e = self.sessions.entry(id.clone()).or_insert(*dead_after);
                    *e = (*e).max(*dead_after);
                }
                Cut::Console {
                    user,
                    issued_before,
                    dead_after,
                } => {
                    let e = self.console.entry(user.clone()).or_insert(ConsoleCut {
                        issued_before: *issued_before,
                        dead_after: *dead_after,
                    });
                    e.issued_before = e.issued_before.max(*issued_before);
                    e.dead_after = e.dead_after.max(*dead_after);
                }
            }
        }
    }

    /// Forgets entries whose tokens are all dead at `now`.
    pub fn prune(&mut self, now: OffsetDateTime) {
        let now = now.unix_timestamp();
        self.sessions.retain(|_, dead| *dead > now);
        self.console.retain(|_, c| c.dead_after > now);
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty() && self.console.is_empty()
    }

    /// Lays the denies out in pages within IAM's limits.
    pub fn render(&self) -> Result<Rendered, Overflow> {
        // Console cuts go first, on page 0: there is one per console user at most.
        let mut first: Vec<Value> = self
            .console
            .iter()
            .map(|(user, cut)| {
                json!({
                    "Sid": format!("Console{}", sid_safe(user)),
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {
                        "StringLike": { "aws:userid": format!("*:{user}") },
                        "DateLessThan": { "aws:TokenIssueTime": rfc3339(cut.issued_before) },
                    },
                })
            })
            .collect();
        let patterns: Vec<String> = self.sessions.keys().map(session_pattern).collect();
        let mut pages: Vec<Vec<String>> = vec![Vec::new()];
        let mut budget = INLINE_BUDGET.saturating_sub(document(&first).len() + EMPTY_SESSIONS_STATEMENT);
        let mut used = 0;
        for p in patterns {
            let cost = p.len() + 3; // quotes and a comma
            if used + cost > budget {
                if pages.len() > MAX_MANAGED_PAGES {
                    return Err(Overflow {
                        sessions: self.sessions.len(),
                        capacity: self.capacity(),
                    });
                }
                pages.push(Vec::new());
                budget = MANAGED_BUDGET - EMPTY_DOCUMENT - EMPTY_SESSIONS_STATEMENT;
                used = 0;
            }
            used += cost;
            pages.last_mut().expect("one page at least").push(p);
        }
        let mut pages = pages.into_iter();
        if let Some(s) = pages.next().filter(|p| !p.is_empty()) {
            first.push(sessions_statement(0, s));
        }
        let inline = (!first.is_empty()).then(|| document(&first));
        let mut managed: Vec<String> = pages
            .enumerate()
            .map(|(i, p)| document(&[sessions_statement(i + 1, p)]))
            .collect();
        while managed.len() < self.managed_pages {
            managed.push(denies_nothing());
        }
        Ok(Rendered { inline, managed })
    }

    /// About how many revoked sessions the pages hold (with no console cuts).
    pub fn capacity(&self) -> usize {
        let per = ID_SUFFIX + 1 + 3;
        (INLINE_BUDGET - EMPTY_DOCUMENT - EMPTY_SESSIONS_STATEMENT) / per
            + MAX_MANAGED_PAGES * ((MANAGED_BUDGET - EMPTY_DOCUMENT - EMPTY_SESSIONS_STATEMENT) / per)
    }
}

/// Characters of `{"Version":"2012-10-17","Statement":[]}` and of a sessions statement
/// without patterns, so budgets are counted exactly.
const EMPTY_DOCUMENT: usize = 40;
const EMPTY_SESSIONS_STATEMENT: usize = 110;

fn sessions_statement(page: usize, patterns: Vec<String>) -> Value {
    json!({
        "Sid": format!("Sessions{page}"),
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": { "StringLike": { "aws:userid": patterns } },
    })
}

fn document(statements: &[Value]) -> String {
    json!({ "Version": "2012-10-17", "Statement": statements }).to_string()
}

/// A valid policy that denies nothing: `aws:userid` always contains a colon.
fn denies_nothing() -> String {
    document(&[json!({
        "Sid": "Empty",
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": { "StringEquals": { "aws:userid": "none" } },
    })])
}

/// Sids are alphanumeric.
fn sid_safe(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphanumeric).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ids(n: usize) -> Vec<SessionId> {
        (0..n).map(|_| SessionId::generate()).collect()
    }

    #[test]
    fn a_session_pattern_is_its_ids_random_part() {
        let id = SessionId::parse("01JD0000000000000000000000").unwrap();
        assert_eq!(session_pattern(&id), "*0000000000000000");
        assert_eq!(session_pattern(&id).len(), ID_SUFFIX + 1);
    }

    #[test]
    fn the_empty_statement_constants_are_exact() {
        assert!(document(&[]).len() <= EMPTY_DOCUMENT);
        let empty = sessions_statement(9, Vec::new()).to_string();
        assert!(empty.len() < EMPTY_SESSIONS_STATEMENT, "{}", empty.len());
    }

    #[test]
    fn one_thousand_revoked_sessions_fit_within_iams_limits() {
        let mut r = RoleRevocations::default();
        let all = ids(1000);
        r.apply(
            &all.iter()
                .map(|id| Cut::Session {
                    id: id.clone(),
                    dead_after: i64::MAX,
                })
                .collect::<Vec<_>>(),
        );
        r.apply(&[Cut::Console {
            user: "alice".into(),
            issued_before: OffsetDateTime::now_utc(),
            dead_after: i64::MAX,
        }]);
        let out = r.render().unwrap();
        let inline = out.inline.as_deref().unwrap();
        assert!(inline.len() <= INLINE_BUDGET, "{}", inline.len());
        assert!(out.managed.len() <= MAX_MANAGED_PAGES);
        for page in &out.managed {
            assert!(page.len() <= 6_144, "{}", page.len());
        }
        // Every session is denied exactly once, across all pages.
        let text = format!("{inline}{}", out.managed.join(""));
        for id in &all {
            assert_eq!(text.matches(&session_pattern(id)).count(), 1);
        }
        assert!(inline.contains("\"*:alice\""));
        assert!(r.capacity() >= 1_500, "{}", r.capacity());
    }

    #[test]
    fn past_capacity_it_refuses_rather_than_dropping_a_deny() {
        let mut r = RoleRevocations::default();
        let cuts: Vec<Cut> = ids(r.capacity() + 50)
            .into_iter()
            .map(|id| Cut::Session {
                id,
                dead_after: i64::MAX,
            })
            .collect();
        r.apply(&cuts);
        assert!(r.render().is_err());
    }

    #[test]
    fn console_cuts_widen_and_everything_is_pruned_when_dead() {
        let t0 = OffsetDateTime::now_utc();
        let hour = Duration::from_secs(3600);
        let mut r = RoleRevocations::default();
        r.apply(&[Cut::Console {
            user: "bob".into(),
            issued_before: t0,
            dead_after: (t0 + hour).unix_timestamp(),
        }]);
        r.apply(&[Cut::Console {
            user: "bob".into(),
            issued_before: t0 + hour,
            dead_after: (t0 + 2 * hour).unix_timestamp(),
        }]);
        assert_eq!(r.console["bob"].issued_before, t0 + hour);
        let id = SessionId::generate();
        r.apply(&[Cut::Session {
            id: id.clone(),
            dead_after: (t0 + hour).unix_timestamp(),
        }]);
        r.prune(t0 + hour + Duration::from_secs(1));
        assert!(r.sessions.is_empty() && r.console.len() == 1);
        r.prune(t0 + 3 * hour);
        assert!(r.is_empty());
        assert_eq!(r.render().unwrap().inline, None, "nothing to deny: no inline policy");
    }

    #[test]
    fn emptied_managed_pages_are_rewritten_to_deny_nothing() {
        let r = RoleRevocations {
            managed_pages: 2,
            ..Default::default()
        };
        let out = r.render().unwrap();
        assert_eq!(out.managed.len(), 2);
        assert!(out.managed[0].contains("\"none\""));
    }
}
