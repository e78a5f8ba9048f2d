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
//! page 0 is the role's inline policy (with room left for the role's own inline policies, and
//! for the console cuts), pages 1.. are customer managed policies attached to the role. With
//! the default budgets that holds 1 410 revoked-but-still-valid sessions per role; past that,
//! recording refuses (the revocation stays due and alarms) rather than dropping a deny.
//!
//! A session's page is chosen once, when it is revoked, and kept: entries never move between
//! pages, so pages can be written in any order (and one at a time) without a moment where a
//! revoked session is on no page. Entries leave once every credential they cover is dead.

use std::collections::BTreeMap;
use std::time::Duration;

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
/// Characters of page 0 kept for console cuts: 14 console users at once on one role with
/// 40-character IAM user names, more with shorter ones.
const CONSOLE_RESERVE: usize = 3_000;
/// Characters one revoked session costs in a page: `"*<16>",`.
const SLOT: usize = ID_SUFFIX + 1 + 3;

/// A JIT session's credentials are issued after it is recorded (within a Lambda's 29 s); its
/// deny is kept this long past its end of time, to outlive them for sure.
pub const CREDENTIALS_MARGIN: Duration = Duration::from_secs(15 * 60);
/// How long a console made from role credentials can outlive them: the holder may call
/// `getSigninToken` up to the credentials' last second, the sign-in token is good for 15
/// minutes, and the console session lasts its `SessionDuration`, up to 12 hours, whatever the
/// credentials' expiry ("The DurationSeconds parameter is separate from the duration of a
/// console session", STS AssumeRole reference; custom identity broker console access). Its
/// calls, and credentials exported from it (CloudShell), carry the session's `aws:userid`, so
/// a session's deny is held this long past its credentials, natural expiry included.
pub const CONSOLE_OUTLIVES_CREDENTIALS: Duration = Duration::from_secs(12 * 3600 + 15 * 60);

/// Ended sessions per hour one role can keep denied, sustained: each holds a slot from its
/// end until `CREDENTIALS_MARGIN + CONSOLE_OUTLIVES_CREDENTIALS` past its credentials' expiry
/// (at least that long, as an end is at or before the expiry).
pub fn sustained_ends_per_hour() -> f64 {
    let held = (CREDENTIALS_MARGIN + CONSOLE_OUTLIVES_CREDENTIALS).as_secs_f64() / 3600.0;
    RoleRevocations::capacity() as f64 / held
}

/// A console user's switch-role sessions issued before `issued_before` are revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleCut {
    pub issued_before: OffsetDateTime,
    /// Unix time after which no token it covers can be alive.
    pub dead_after: i64,
}

/// A revoked JIT session whose credentials may still be valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revoked {
    /// Unix time after which its credentials are dead.
    pub dead_after: i64,
    /// The page its deny is on (0: inline), chosen once.
    pub page: usize,
}

/// The revocations on one role.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoleRevocations {
    pub sessions: BTreeMap<SessionId, Revoked>,
    /// Console users (IAM user names) whose switched role sessions are cut.
    pub console: BTreeMap<String, ConsoleCut>,
    /// How many managed pages have ever been written (so emptied ones are cleared too).
    pub managed_pages: usize,
    /// Optimistic concurrency: the stored record's version.
    pub version: u64,
    /// The version whose render IAM was last seen serving (read back): every cut recorded by
    /// then is denied. Revocations waiting for the role's lease are done once it reaches theirs.
    pub served: u64,
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
    "{sessions} revoked sessions and {console} console cuts still valid on this role exceed what IAM's policy size limits hold ({capacity} sessions, {CONSOLE_RESERVE} characters of console cuts); revocation is refused rather than dropping a deny"
)]
pub struct Overflow {
    pub sessions: usize,
    pub console: usize,
    pub capacity: usize,
}

/// Revoked sessions page `page` holds.
fn slots(page: usize) -> usize {
    if page == 0 {
        (INLINE_BUDGET - EMPTY_DOCUMENT - EMPTY_SESSIONS_STATEMENT - CONSOLE_RESERVE) / SLOT
    } else {
        (MANAGED_BUDGET - EMPTY_DOCUMENT - EMPTY_SESSIONS_STATEMENT) / SLOT
    }
}

/// The `aws:userid` pattern that matches the JIT session `id` and nothing else.
pub fn session_pattern(id: &SessionId) -> String {
    let s = id.as_str();
    format!("*{}", &s[s.len().saturating_sub(ID_SUFFIX)..])
}

/// Shorter in the policy, and never earlier than the cut.
fn whole_second_after(t: OffsetDateTime) -> OffsetDateTime {
    let whole = t.replace_nanosecond(0).unwrap_or(t);
    if whole == t {
        t
    } else {
        whole + time::Duration::seconds(1)
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl RoleRevocations {
    /// Adds cuts; a later console cut for the same user widens the earlier one. A new session
    /// takes the first page with room, and keeps it. Refuses what the pages cannot hold.
    pub fn apply(&mut self, cuts: &[Cut]) -> Result<(), Overflow> {
        let mut used = [0usize; MAX_MANAGED_PAGES + 1];
        for r in self.sessions.values() {
            used[r.page.min(MAX_MANAGED_PAGES)] += 1;
        }
        for cut in cuts {
            match cut {
                Cut::Session { id, dead_after } => {
                    if let Some(e) = self.sessions.get_mut(id) {
                        e.dead_after = e.dead_after.max(*dead_after);
                        continue;
                    }
                    let page = (0..=MAX_MANAGED_PAGES)
                        .find(|&p| used[p] < slots(p))
                        .ok_or_else(|| self.overflow())?;
                    used[page] += 1;
                    // A page once used is rendered (emptied, to deny nothing) until the record
                    // goes: the count is kept with the cuts, in the same write.
                    self.managed_pages = self.managed_pages.max(page);
                    self.sessions.insert(
                        id.clone(),
                        Revoked {
                            dead_after: *dead_after,
                            page,
                        },
                    );
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
        if self
            .console_statements()
            .iter()
            .map(|s| s.to_string().len() + 1)
            .sum::<usize>()
            > CONSOLE_RESERVE
        {
            return Err(self.overflow());
        }
        Ok(())
    }

    fn overflow(&self) -> Overflow {
        Overflow {
            sessions: self.sessions.len(),
            console: self.console.len(),
            capacity: Self::capacity(),
        }
    }

    /// One statement per console user whose switched role sessions are cut.
    fn console_statements(&self) -> Vec<Value> {
        self.console
            .iter()
            .enumerate()
            .map(|(i, (user, cut))| {
                json!({
                    "Sid": format!("Console{i}"),
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {
                        "StringLike": { "aws:userid": format!("*:{user}") },
                        "DateLessThan": { "aws:TokenIssueTime": rfc3339(whole_second_after(cut.issued_before)) },
                    },
                })
            })
            .collect()
    }

    /// Forgets entries whose tokens are all dead at `now`.
    pub fn prune(&mut self, now: OffsetDateTime) {
        let now = now.unix_timestamp();
        self.sessions.retain(|_, r| r.dead_after > now);
        self.console.retain(|_, c| c.dead_after > now);
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty() && self.console.is_empty()
    }

    /// Lays out a record written before each session kept its page, as that version's render
    /// did: first fit in id order. Its pages were at least as large as today's, so every entry
    /// lands on the page it was on or a later one.
    pub fn repage_in_id_order(&mut self) {
        let mut used = [0usize; MAX_MANAGED_PAGES + 1];
        for r in self.sessions.values_mut() {
            let page = (0..=MAX_MANAGED_PAGES)
                .find(|&p| used[p] < slots(p))
                .unwrap_or(MAX_MANAGED_PAGES);
            used[page] += 1;
            r.page = page;
            self.managed_pages = self.managed_pages.max(page);
        }
    }

    /// The denies, page by page, as recorded.
    pub fn render(&self) -> Rendered {
        let mut pages: Vec<Vec<String>> = vec![Vec::new(); MAX_MANAGED_PAGES + 1];
        for (id, r) in &self.sessions {
            pages[r.page.min(MAX_MANAGED_PAGES)].push(session_pattern(id));
        }
        let mut first = self.console_statements();
        if !pages[0].is_empty() {
            first.push(sessions_statement(0, std::mem::take(&mut pages[0])));
        }
        let inline = (!first.is_empty()).then(|| document(&first));
        let used = pages.iter().rposition(|p| !p.is_empty()).unwrap_or(0);
        let managed = (1..=used.max(self.managed_pages))
            .map(|p| {
                let patterns = std::mem::take(&mut pages[p]);
                if patterns.is_empty() {
                    denies_nothing()
                } else {
                    document(&[sessions_statement(p, patterns)])
                }
            })
            .collect();
        Rendered { inline, managed }
    }

    /// How many revoked sessions the pages hold.
    pub fn capacity() -> usize {
        (0..=MAX_MANAGED_PAGES).map(slots).sum()
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

/// A valid policy that denies nothing: no `aws:userid` is the word "none" (a role session's
/// has a colon; an IAM user's is its AIDA… id).
fn denies_nothing() -> String {
    document(&[json!({
        "Sid": "Empty",
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": { "StringEquals": { "aws:userid": "none" } },
    })])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cuts(n: usize) -> Vec<Cut> {
        (0..n)
            .map(|_| Cut::Session {
                id: SessionId::generate(),
                dead_after: i64::MAX,
            })
            .collect()
    }

    #[test]
    fn a_session_pattern_is_its_ids_random_part() {
        let id = SessionId::parse("01JD0000000000000000000000").unwrap();
        assert_eq!(session_pattern(&id), "*0000000000000000");
        assert_eq!(session_pattern(&id).len() + 3, SLOT);
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
        let all = cuts(1000);
        r.apply(&all).unwrap();
        for i in 0..14 {
            r.apply(&[Cut::Console {
                user: format!("a-long-iam-user-name-{i:02}@example.com"),
                issued_before: OffsetDateTime::now_utc(),
                dead_after: i64::MAX,
            }])
            .unwrap();
        }
        let out = r.render();
        let inline = out.inline.as_deref().unwrap();
        assert!(inline.len() <= INLINE_BUDGET, "{}", inline.len());
        assert_eq!(out.managed.len(), 3);
        for page in &out.managed {
            assert!(page.len() <= MANAGED_BUDGET, "{}", page.len());
        }
        // Every session is denied exactly once, across all pages; Sids are unique.
        let text = format!("{inline}{}", out.managed.join(""));
        for c in &all {
            let Cut::Session { id, .. } = c else { unreachable!() };
            assert_eq!(text.matches(&session_pattern(id)).count(), 1);
        }
        assert_eq!(inline.matches("\"Sid\":\"Console").count(), 14);
        assert_eq!(RoleRevocations::capacity(), 1410);
    }

    #[test]
    fn entries_never_move_between_pages() {
        let mut r = RoleRevocations::default();
        let t0 = OffsetDateTime::now_utc();
        let early: Vec<Cut> = (0..300)
            .map(|_| Cut::Session {
                id: SessionId::generate(),
                dead_after: t0.unix_timestamp() + 60,
            })
            .collect();
        r.apply(&early).unwrap();
        let late = cuts(20);
        r.apply(&late).unwrap();
        let pages_of = |r: &RoleRevocations| -> Vec<usize> {
            late.iter()
                .map(|c| {
                    let Cut::Session { id, .. } = c else { unreachable!() };
                    r.sessions[id].page
                })
                .collect()
        };
        let before = pages_of(&r);
        assert!(before.iter().all(|&p| p == 1), "page 0 was full: {before:?}");
        // The early ones die: the late ones stay where they are (page 1), page 0 empties.
        r.prune(t0 + Duration::from_secs(61));
        assert_eq!(pages_of(&r), before);
        let out = r.render();
        assert_eq!(out.inline, None);
        assert_eq!(out.managed.len(), 1);
        // A new one takes the first page with room again.
        let next = cuts(1);
        r.apply(&next).unwrap();
        let Cut::Session { id, .. } = &next[0] else {
            unreachable!()
        };
        assert_eq!(r.sessions[id].page, 0);
    }

    #[test]
    fn past_capacity_it_refuses_rather_than_dropping_a_deny() {
        let mut r = RoleRevocations::default();
        r.apply(&cuts(RoleRevocations::capacity())).unwrap();
        let full = r.clone();
        assert!(r.apply(&cuts(1)).is_err());
        assert_eq!(r.sessions.len(), full.sessions.len(), "nothing placed");
        // Console cuts past their reserve are refused too.
        let mut r = RoleRevocations::default();
        let too_many: Vec<Cut> = (0..40)
            .map(|i| Cut::Console {
                user: format!("user-{i:02}-with-a-long-name@example.com"),
                issued_before: OffsetDateTime::now_utc(),
                dead_after: i64::MAX,
            })
            .collect();
        assert!(r.apply(&too_many).is_err());
    }

    #[test]
    fn console_cuts_widen_and_everything_is_pruned_when_dead() {
        let t0 = OffsetDateTime::now_utc();
        let hour = Duration::from_secs(3600);
        let mut r = RoleRevocations::default();
        let bob = |issued_before: OffsetDateTime, dead: OffsetDateTime| Cut::Console {
            user: "bob".into(),
            issued_before,
            dead_after: dead.unix_timestamp(),
        };
        r.apply(&[bob(t0, t0 + hour)]).unwrap();
        r.apply(&[bob(t0 + hour, t0 + 2 * hour)]).unwrap();
        assert_eq!(r.console["bob"].issued_before, t0 + hour);
        let id = SessionId::generate();
        r.apply(&[Cut::Session {
            id,
            dead_after: (t0 + hour).unix_timestamp(),
        }])
        .unwrap();
        r.prune(t0 + hour + Duration::from_secs(1));
        assert!(r.sessions.is_empty() && r.console.len() == 1);
        r.prune(t0 + 3 * hour);
        assert!(r.is_empty());
        assert_eq!(r.render().inline, None, "nothing to deny: no inline policy");
    }

    #[test]
    fn a_record_without_pages_is_laid_out_first_fit_in_id_order() {
        let mut r = RoleRevocations::default();
        let ids: Vec<SessionId> = (0..300).map(|_| SessionId::generate()).collect();
        for id in &ids {
            r.sessions.insert(
                id.clone(),
                Revoked {
                    dead_after: 10,
                    page: 0,
                },
            );
        }
        r.repage_in_id_order();
        let on = |p: usize| r.sessions.values().filter(|e| e.page == p).count();
        assert_eq!((on(0), on(1)), (slots(0), 300 - slots(0)));
        assert_eq!(r.managed_pages, 1);
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(r.sessions[&sorted[0]].page, 0);
        assert_eq!(r.sessions[&sorted[299]].page, 1);
    }

    #[test]
    fn emptied_managed_pages_are_rewritten_to_deny_nothing() {
        let r = RoleRevocations {
            managed_pages: 2,
            ..Default::default()
        };
        let out = r.render();
        assert_eq!(out.managed.len(), 2);
        assert!(out.managed[0].contains("\"none\""));
    }
}
