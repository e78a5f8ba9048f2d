//! Approval requests on a session: a start (or an extension) waiting for N approvals, the
//! votes cast, the outcome; and break-glass reviews. The rules that need no I/O live here:
//! who may vote, whether a vote completes the request, whether it has lapsed.

use time::OffsetDateTime;

use super::{Email, GroupId};

/// One approver's approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    pub by: Email,
    /// The bot that relayed it (Slack), if any.
    pub via: Option<String>,
    pub at: OffsetDateTime,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Approved,
    Denied,
    Cancelled,
    Lapsed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Approved => "approved",
            Outcome::Denied => "denied",
            Outcome::Cancelled => "cancelled",
            Outcome::Lapsed => "lapsed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "approved" => Outcome::Approved,
            "denied" => Outcome::Denied,
            "cancelled" => Outcome::Cancelled,
            "lapsed" => Outcome::Lapsed,
            _ => return None,
        })
    }
}

/// How a request was decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    pub outcome: Outcome,
    /// Who decided (a token subject, `expirer` for a lapse).
    pub by: String,
    pub at: OffsetDateTime,
    pub reason: String,
}

/// A request for approvals: a session's start, or an extension of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequest {
    pub approvals_required: u32,
    pub approver_groups: Vec<GroupId>,
    pub approvals: Vec<Vote>,
    pub requested_at: OffsetDateTime,
    pub lapses_at: OffsetDateTime,
    pub decided: Option<Decided>,
}

/// Why a vote is not counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoteRefused {
    /// Decided already, or lapsed (409).
    NotPending(String),
    /// This approver's approval is already counted (409).
    AlreadyApproved,
}

impl ApprovalRequest {
    pub fn is_pending(&self, now: OffsetDateTime) -> bool {
        self.decided.is_none() && now < self.lapses_at
    }

    fn open(&self, now: OffsetDateTime) -> Result<(), VoteRefused> {
        match &self.decided {
            Some(d) => Err(VoteRefused::NotPending(format!(
                "the request was {}",
                d.outcome.as_str()
            ))),
            None if now >= self.lapses_at => Err(VoteRefused::NotPending("the request has lapsed".into())),
            None => Ok(()),
        }
    }

    /// Counts `vote`; `Ok(true)` when it completes the request (it is then decided approved).
    /// Who may vote (approver groups, not the requester) is `authz`'s decision, made before.
    pub fn approve(&mut self, vote: Vote, now: OffsetDateTime) -> Result<bool, VoteRefused> {
        self.open(now)?;
        if self.approvals.iter().any(|v| v.by == vote.by) {
            return Err(VoteRefused::AlreadyApproved);
        }
        let by = vote.by.to_string();
        self.approvals.push(vote);
        let complete = self.approvals.len() as u32 >= self.approvals_required;
        if complete {
            self.decided = Some(Decided {
                outcome: Outcome::Approved,
                by,
                at: now,
                reason: String::new(),
            });
        }
        Ok(complete)
    }

    /// Ends the request as `outcome` (denied, cancelled, lapsed).
    pub fn close(&mut self, outcome: Outcome, by: &str, reason: &str, now: OffsetDateTime) -> Result<(), VoteRefused> {
        if outcome == Outcome::Lapsed {
            // The expirer lapses what has run out of time; nothing else may.
            if self.decided.is_some() {
                return Err(VoteRefused::NotPending("the request was decided".into()));
            }
        } else {
            self.open(now)?;
        }
        self.decided = Some(Decided {
            outcome,
            by: by.to_string(),
            at: now,
            reason: reason.to_string(),
        });
        Ok(())
    }
}

/// An extension waiting for approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingExtension {
    pub duration_seconds: u32,
    pub reason: String,
    pub requested_by: String,
    pub approval: ApprovalRequest,
}

/// An extension that was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub at: OffsetDateTime,
    pub by: String,
    pub duration_seconds: u32,
    pub reason: String,
    pub expires_at: OffsetDateTime,
}

/// A break-glass session's review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub by: Email,
    pub at: OffsetDateTime,
    pub note: String,
}

/// A review note: 3 to 1000 characters.
pub fn parse_note(s: &str) -> Result<String, super::Invalid> {
    let s = s.trim();
    if (3..=1000).contains(&s.chars().count()) && !s.chars().any(|c| c.is_control() && c != '\n') {
        Ok(s.to_string())
    } else {
        Err(super::Invalid::field("note", "is required: 3 to 1000 characters"))
    }
}

/// An optional reason given with a decision: at most 500 characters.
pub fn parse_optional_reason(s: Option<&str>) -> Result<String, super::Invalid> {
    match s.map(str::trim) {
        None | Some("") => Ok(String::new()),
        Some(_) => super::parse_reason(s.unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(n: u32, now: OffsetDateTime) -> ApprovalRequest {
        ApprovalRequest {
            approvals_required: n,
            approver_groups: vec![GroupId::generate()],
            approvals: Vec::new(),
            requested_at: now,
            lapses_at: now + time::Duration::hours(1),
            decided: None,
        }
    }

    fn vote(who: &str, at: OffsetDateTime) -> Vote {
        Vote {
            by: Email::parse(who).unwrap(),
            via: None,
            at,
            reason: String::new(),
        }
    }

    #[test]
    fn n_distinct_approvals_complete_it_once() {
        let now = OffsetDateTime::now_utc();
        let mut r = request(2, now);
        assert_eq!(r.approve(vote("a@x.io", now), now), Ok(false));
        assert_eq!(r.approve(vote("a@x.io", now), now), Err(VoteRefused::AlreadyApproved));
        assert_eq!(r.approve(vote("b@x.io", now), now), Ok(true));
        assert_eq!(r.decided.as_ref().map(|d| d.outcome), Some(Outcome::Approved));
        assert!(matches!(
            r.approve(vote("c@x.io", now), now),
            Err(VoteRefused::NotPending(_))
        ));
        assert!(r.close(Outcome::Denied, "c", "no", now).is_err());
    }

    #[test]
    fn a_lapsed_request_takes_no_votes_and_only_the_expirer_closes_it() {
        let now = OffsetDateTime::now_utc();
        let mut r = request(1, now);
        let later = now + time::Duration::hours(2);
        assert!(!r.is_pending(later));
        assert!(matches!(
            r.approve(vote("a@x.io", later), later),
            Err(VoteRefused::NotPending(_))
        ));
        assert!(r.close(Outcome::Cancelled, "me", "", later).is_err());
        assert!(r.close(Outcome::Lapsed, "expirer", "", later).is_ok());
        assert!(r.close(Outcome::Lapsed, "expirer", "", later).is_err());
    }
}
