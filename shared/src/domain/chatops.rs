//! Chat-ops: Slack users linked to platform users, and the `/jit` slash command's grammar.

use std::fmt;

use time::OffsetDateTime;

use super::{Email, Invalid};

/// A Slack member id (`U…` or `W…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlackUserId(String);

impl SlackUserId {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let ok = (3..=24).contains(&s.len())
            && (s.starts_with('U') || s.starts_with('W'))
            && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if ok {
            Ok(SlackUserId(s.to_string()))
        } else {
            Err(Invalid::field(
                "slack_user_id",
                "must be a Slack member id such as U024BE7LH",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SlackUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a link acts. An admin's link is `Pending` until the person it names confirms it (signed
/// in as that e-mail, or from Slack when Slack says the member's e-mail is that one): an admin
/// alone never makes a Slack member act as someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStatus {
    Pending,
    Confirmed,
}

impl LinkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkStatus::Pending => "pending",
            LinkStatus::Confirmed => "confirmed",
        }
    }
}

/// A Slack member linked to a platform user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackLink {
    pub slack_user_id: SlackUserId,
    pub email: Email,
    pub status: LinkStatus,
    /// Who linked it (the admin's e-mail, or their token's subject); `None` on links stored
    /// before links needed confirming (which act: they predate the rule).
    pub linked_by: Option<String>,
    pub linked_at: Option<OffsetDateTime>,
    /// Who confirmed it: the linked user's e-mail (signed in to the API), or `slack:<member>`
    /// (from Slack, the member's Slack e-mail checked).
    pub confirmed_by: Option<String>,
    pub confirmed_at: Option<OffsetDateTime>,
}

impl SlackLink {
    /// A link an admin just made: it acts once the linked user confirms it.
    pub fn pending(slack_user_id: SlackUserId, email: Email, linked_by: String, at: OffsetDateTime) -> Self {
        SlackLink {
            slack_user_id,
            email,
            status: LinkStatus::Pending,
            linked_by: Some(linked_by),
            linked_at: Some(at),
            confirmed_by: None,
            confirmed_at: None,
        }
    }

    /// This link, confirmed by `by` at `at`.
    pub fn confirmed(self, by: String, at: OffsetDateTime) -> Self {
        SlackLink {
            status: LinkStatus::Confirmed,
            confirmed_by: Some(by),
            confirmed_at: Some(at),
            ..self
        }
    }

    /// Whether the member acts as the linked user (a pending link resolves to no one).
    pub fn acts(&self) -> bool {
        self.status == LinkStatus::Confirmed
    }
}

/// What a `/jit …` command asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlashCommand {
    /// `/jit <account> <role> <duration> <reason…>`: account by id or name, role by ARN or name.
    Start {
        account: String,
        role: String,
        duration_seconds: i64,
        reason: String,
    },
    /// `/jit list`: the user's live sessions.
    List,
    /// `/jit end <session-id> [reason…]`.
    End { session: String, reason: String },
    /// `/jit approve <session-id>` (also what an Approve button sends).
    Approve { session: String },
    /// `/jit deny <session-id> [reason…]` (also what a Deny button sends).
    Deny { session: String, reason: String },
    /// `/jit confirm`: the member accepts the link an admin made for them (confirmed only when
    /// Slack says the member's e-mail is the linked one).
    Confirm,
    /// `/jit help` (or nothing).
    Help,
}

pub const USAGE: &str = "Usage:\n\
    • `/jit <account> <role> <duration> <reason>`: start a JIT session (duration like 900, 30m or 1h)\n\
    • `/jit list`: your live sessions\n\
    • `/jit end <session-id> [reason]`: end a session\n\
    • `/jit approve <session-id>` or `/jit deny <session-id> [reason]`: decide a request you approve\n\
    • `/jit confirm`: accept the link an admin made for your Slack account (your Slack e-mail must be the linked one)\n\
    • `/jit help`: this text";

/// `900`, `900s`, `30m`, `1h`, `1h30m`.
pub fn parse_duration(s: &str) -> Option<i64> {
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    let mut total = 0i64;
    let mut number = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: i64 = number.parse().ok()?;
        number.clear();
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        // Checked: `99999999999999999h` must be "not a duration", not an overflow.
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    number.is_empty().then_some(total).filter(|t| *t > 0)
}

/// Parses the text after `/jit`. Errors are messages for the user (the usage follows them).
pub fn parse_slash_command(text: &str) -> Result<SlashCommand, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        [] | ["help"] => Ok(SlashCommand::Help),
        ["list"] => Ok(SlashCommand::List),
        ["confirm"] => Ok(SlashCommand::Confirm),
        ["end", session, reason @ ..] => Ok(SlashCommand::End {
            session: session.to_string(),
            reason: if reason.is_empty() {
                "ended from Slack".into()
            } else {
                reason.join(" ")
            },
        }),
        ["end"] => Err("`end` needs a session id".into()),
        ["approve", session] => Ok(SlashCommand::Approve {
            session: session.to_string(),
        }),
        ["deny", session, reason @ ..] => Ok(SlashCommand::Deny {
            session: session.to_string(),
            reason: if reason.is_empty() {
                "denied from Slack".into()
            } else {
                reason.join(" ")
            },
        }),
        ["approve" | "deny", ..] => Err("`approve` and `deny` need a session id".into()),
        [account, role, duration, reason @ ..] if !reason.is_empty() => {
            let duration_seconds = parse_duration(duration).ok_or_else(|| format!("`{duration}` is not a duration"))?;
            Ok(SlashCommand::Start {
                account: account.to_string(),
                role: role.to_string(),
                duration_seconds,
                reason: reason.join(" "),
            })
        }
        _ => Err("that is not a command I know".into()),
    }
}

/// A verified slash command, acknowledged at once and finished later (Slack allows three
/// seconds; a cold start or a slow AWS call would not fit).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SlackJob {
    /// Unique per signed request (a hash of its signature): the job runs once per request.
    pub id: String,
    pub user_id: String,
    pub text: String,
    /// Where the answer goes (Slack accepts posts there for 30 minutes).
    pub response_url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        assert_eq!(
            parse_slash_command("prod OnCall 1h INC-42 db failover").unwrap(),
            SlashCommand::Start {
                account: "prod".into(),
                role: "OnCall".into(),
                duration_seconds: 3600,
                reason: "INC-42 db failover".into()
            }
        );
        assert_eq!(parse_slash_command("  list ").unwrap(), SlashCommand::List);
        assert_eq!(parse_slash_command("confirm").unwrap(), SlashCommand::Confirm);
        assert_eq!(parse_slash_command("").unwrap(), SlashCommand::Help);
        assert_eq!(
            parse_slash_command("end 01ABC").unwrap(),
            SlashCommand::End {
                session: "01ABC".into(),
                reason: "ended from Slack".into()
            }
        );
        assert!(parse_slash_command("prod OnCall 1h").is_err(), "a reason is required");
        assert!(parse_slash_command("prod OnCall soon please").is_err());
        assert!(parse_slash_command("end").is_err());
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("900s"), Some(900));
        assert_eq!(parse_duration("15x"), None);
        // Overflow is "not a duration", never a panic (debug) or a wrapped value (release).
        assert_eq!(parse_duration("9223372036854775807h"), None);
        assert_eq!(parse_duration("2562047788015216h"), None);
        assert_eq!(parse_duration("9223372036854775807s1s"), None);
        assert!(SlackUserId::parse("U024BE7LH").is_ok() && SlackUserId::parse("u1").is_err());
    }
}
