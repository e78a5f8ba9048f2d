//! Chat-ops: Slack users linked to platform users, and the `/jit` slash command's grammar.

use std::fmt;

use time::OffsetDateTime;

use super::{Email, Invalid, Secret};

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
    /// `/jit <account> <role> <duration> <reason…>`: account by id or name, role by ARN or name
    /// (or an Identity Center permission set, by ARN).
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
    • `/jit <account> <role> <duration> <reason>`: start a JIT session (duration like 900, 30m or 1h); with a permission set ARN as `<role>`, an Identity Center session\n\
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
///
/// Signed by the `chatops` function that verified the Slack request, with a key derived from
/// Slack's signing secret (`signed`), and checked by the worker before anything else
/// (`signed_by`): whoever can send to the jobs queue cannot make a job act for anyone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SlackJob {
    /// Unique per signed request (a hash of its signature): the job runs once per request.
    pub id: String,
    pub user_id: String,
    pub text: String,
    /// Where the answer goes (Slack accepts posts there for 30 minutes).
    pub response_url: String,
    /// When Slack sent the request (its `X-Slack-Request-Timestamp`, Unix seconds, verified with
    /// the request's signature). Signed with the rest, so a job replayed after its run-once
    /// record is gone is still refused: the worker runs a job only while it is recent
    /// (`ChatOpsService::finish`). 0 on a job that carries none, which is then long stale.
    #[serde(default)]
    pub issued_at: i64,
    /// Hex HMAC-SHA256 of the fields above (`signed`). Absent on a job nobody signed, which then
    /// decodes, and is dropped as forged.
    #[serde(default)]
    pub signature: String,
}

/// What the key that signs jobs is derived under: a key for this use alone, so a job's signature
/// is never a Slack request signature (or any other HMAC made with the signing secret), nor the
/// reverse.
const JOB_KEY_LABEL: &[u8] = b"cloud-iam-broker slack-job v1";

impl SlackJob {
    /// A job for a Slack request the caller verified, sent at `issued_at` (its verified
    /// timestamp), signed with the key derived from Slack's signing secret.
    pub fn signed(
        id: String,
        user_id: String,
        text: String,
        response_url: String,
        issued_at: i64,
        signing_secret: &Secret,
    ) -> Self {
        use hmac::Mac;
        let mut job = SlackJob {
            id,
            user_id,
            text,
            response_url,
            issued_at,
            signature: String::new(),
        };
        job.signature = super::evidence::hex(&job.mac(signing_secret).finalize().into_bytes());
        job
    }

    /// Whether `signature` is the one `signing_secret` gives this job's fields, compared in
    /// constant time. A job without one, with another, or with any field changed since it was
    /// signed, is not.
    pub fn signed_by(&self, signing_secret: &Secret) -> bool {
        use hmac::Mac;
        match super::evidence::unhex(&self.signature) {
            Some(given) => self.mac(signing_secret).verify_slice(&given).is_ok(),
            None => false,
        }
    }

    /// HMAC-SHA256, keyed with HMAC-SHA256(signing secret, `JOB_KEY_LABEL`), over the text
    /// fields, each preceded by its length, then the issue time's eight bytes (so no two
    /// different jobs encode alike).
    fn mac(&self, signing_secret: &Secret) -> hmac::Hmac<sha2::Sha256> {
        use hmac::Mac;
        type HmacSha256 = hmac::Hmac<sha2::Sha256>;
        let mut derive =
            HmacSha256::new_from_slice(signing_secret.expose().as_bytes()).expect("HMAC takes any key length");
        derive.update(JOB_KEY_LABEL);
        let key = derive.finalize().into_bytes();
        let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC takes any key length");
        for field in [&self.id, &self.user_id, &self.text, &self.response_url] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        mac.update(&self.issued_at.to_be_bytes());
        mac
    }
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

    #[test]
    fn only_the_signing_secret_signs_a_job_and_every_field_is_covered() {
        let secret = Secret::new("8f742231b10e8888abcd99yyyzzz85a5");
        let job = SlackJob::signed(
            "id-1".into(),
            "U024BE7LH".into(),
            "prod OnCall 1h INC-42".into(),
            "https://hooks.slack.com/commands/T0001/1/x".into(),
            1_795_374_000,
            &secret,
        );
        assert_eq!(job.signature.len(), 64, "{}", job.signature);
        assert!(job.signed_by(&secret));
        // Through the queue's JSON and back.
        let back: SlackJob = serde_json::from_str(&serde_json::to_string(&job).unwrap()).unwrap();
        assert!(back.signed_by(&secret));
        assert!(!job.signed_by(&Secret::new("another secret")), "another key");
        let tampered = [
            SlackJob {
                id: "id-2".into(),
                ..job.clone()
            },
            SlackJob {
                user_id: "U0MALLORY".into(),
                ..job.clone()
            },
            SlackJob {
                text: "prod Admin 1h INC-42".into(),
                ..job.clone()
            },
            SlackJob {
                response_url: "https://hooks.slack.com/commands/T0001/1/y".into(),
                ..job.clone()
            },
            // A replay made to look recent.
            SlackJob {
                issued_at: job.issued_at + 86_400,
                ..job.clone()
            },
            // Moving bytes between fields changes the encoding too.
            SlackJob {
                id: "id-1U".into(),
                user_id: "024BE7LH".into(),
                ..job.clone()
            },
        ];
        for t in &tampered {
            assert!(!t.signed_by(&secret), "{t:?}");
        }
        // Unsigned (as a hand-made message decodes), empty, short, not hex.
        let unsigned: SlackJob = serde_json::from_str(
            r#"{"id":"id-1","user_id":"U024BE7LH","text":"list","response_url":"https://hooks.slack.com/x"}"#,
        )
        .unwrap();
        assert!(unsigned.signature.is_empty() && unsigned.issued_at == 0 && !unsigned.signed_by(&secret));
        for signature in ["", "00", &job.signature[..62], "zz"] {
            let forged = SlackJob {
                signature: signature.into(),
                ..job.clone()
            };
            assert!(!forged.signed_by(&secret), "{signature:?}");
        }
        // The job key is not the signing secret itself: a plain HMAC with the secret is refused.
        use hmac::Mac;
        let mut plain = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.expose().as_bytes()).unwrap();
        for field in [&job.id, &job.user_id, &job.text, &job.response_url] {
            plain.update(&(field.len() as u64).to_be_bytes());
            plain.update(field.as_bytes());
        }
        plain.update(&job.issued_at.to_be_bytes());
        let plain = SlackJob {
            signature: super::super::evidence::hex(&plain.finalize().into_bytes()),
            ..job.clone()
        };
        assert!(!plain.signed_by(&secret));
    }
}
