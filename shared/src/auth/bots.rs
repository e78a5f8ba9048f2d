//! Which bots a deployment trusts, and whom each may act for (`BOTS`, a JSON list). A bot
//! token whose subject is not listed is refused; a listed bot acts only for the users its
//! patterns cover.

use std::collections::HashMap;

use serde::Deserialize;

use crate::domain::Email;

/// Whom one bot may act for: exact e-mails, `*@domain`, or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActsFor(Vec<Pattern>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Anyone,
    Domain(String),
    Exactly(String),
}

impl ActsFor {
    /// Exactly one user (the Slack bot acting for the member an admin linked).
    pub fn only(email: &Email) -> Self {
        ActsFor(vec![Pattern::Exactly(email.as_str().to_string())])
    }

    fn parse(patterns: &[String]) -> Result<Self, String> {
        patterns
            .iter()
            .map(|p| {
                let p = p.trim().to_ascii_lowercase();
                if p == "*" {
                    Ok(Pattern::Anyone)
                } else if let Some(domain) = p.strip_prefix("*@") {
                    if domain.is_empty() || domain.contains(['@', '*']) {
                        Err(format!("`{p}` is not a pattern (*, *@domain or an e-mail)"))
                    } else {
                        Ok(Pattern::Domain(domain.to_string()))
                    }
                } else {
                    Email::parse(&p)
                        .map(|e| Pattern::Exactly(e.as_str().to_string()))
                        .map_err(|_| format!("`{p}` is not a pattern (*, *@domain or an e-mail)"))
                }
            })
            .collect::<Result<_, _>>()
            .map(ActsFor)
    }

    /// Whether this covers exactly one user and no pattern: what lets a bot's approval stand
    /// for one person's.
    pub fn is_one_user(&self) -> bool {
        matches!(self.0.as_slice(), [Pattern::Exactly(_)])
    }

    pub fn covers(&self, user: &Email) -> bool {
        // `Email` is lower-case already, and so are the patterns.
        let user = user.as_str();
        self.0.iter().any(|p| match p {
            Pattern::Anyone => true,
            Pattern::Domain(d) => user.rsplit_once('@').is_some_and(|(_, ud)| ud == d),
            Pattern::Exactly(e) => *e == user,
        })
    }
}

/// The allow-list, by token subject.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bots(HashMap<String, ActsFor>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BotIn {
    subject: String,
    acts_for: Vec<String>,
}

impl Bots {
    /// Parses `[{"subject": "...", "acts_for": ["*@example.com"]}]`.
    pub fn parse(json: &str) -> Result<Self, String> {
        let list: Vec<BotIn> =
            serde_json::from_str(json).map_err(|e| format!("BOTS is not a JSON list of bots: {e}"))?;
        let mut bots = HashMap::new();
        for bot in list {
            if bot.subject.is_empty() || bot.acts_for.is_empty() {
                return Err("BOTS: every bot needs a subject and at least one acts_for pattern".into());
            }
            let acts_for = ActsFor::parse(&bot.acts_for).map_err(|e| format!("BOTS ({}): {e}", bot.subject))?;
            if bots.insert(bot.subject.clone(), acts_for).is_some() {
                return Err(format!("BOTS lists {} twice", bot.subject));
            }
        }
        Ok(Bots(bots))
    }

    pub fn get(&self, subject: &str) -> Option<&ActsFor> {
        self.0.get(subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    #[test]
    fn patterns() {
        let bots = Bots::parse(
            r#"[{"subject":"a","acts_for":["*@Example.com","ops@other.org"]},{"subject":"b","acts_for":["*"]}]"#,
        )
        .unwrap();
        let a = bots.get("a").unwrap();
        assert!(a.covers(&email("alice@example.com")));
        assert!(a.covers(&email("OPS@other.org")));
        assert!(!a.covers(&email("alice@other.org")));
        assert!(!a.covers(&email("alice@notexample.com")));
        assert!(bots.get("b").unwrap().covers(&email("x@y.z")));
        assert!(bots.get("c").is_none());
        for bad in [
            r#"[{"subject":"a","acts_for":[]}]"#,
            r#"[{"subject":"a","acts_for":["*@"]}]"#,
            r#"[{"subject":"a","acts_for":["nobody"]}]"#,
            r#"[{"subject":"a","acts_for":["*"]},{"subject":"a","acts_for":["*"]}]"#,
            r#"{"subject":"a"}"#,
        ] {
            assert!(Bots::parse(bad).is_err(), "{bad}");
        }
    }
}
