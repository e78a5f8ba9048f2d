//! From validated claims to a principal: which claim holds the e-mail, which the groups, and
//! which groups mean admin and bot. Real identity providers put groups in tokens, not a `role`
//! claim; the defaults keep the local runner's `role` claim working.

use serde_json::{Map, Value};

use super::bots::Bots;
use super::{AuthError, Principal, Role};
use crate::domain::looks_like_email;

/// How a token's claims name the caller (environment: `JWT_EMAIL_CLAIM`, `JWT_ROLE_CLAIM`,
/// `JWT_GROUPS_CLAIM`, `JWT_ADMIN_GROUPS`, `JWT_AUDITOR_GROUPS`, `JWT_BOT_GROUPS`,
/// `JWT_REQUIRE_EMAIL_VERIFIED`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    /// The top-level claim holding the e-mail (`email`).
    pub email_claim: String,
    /// Used only without `groups_claim`: a claim whose value is `admin`, `user`, `bot` or
    /// `auditor`.
    pub role_claim: String,
    /// When set, the role comes from group membership only and `role_claim` is ignored, so a
    /// user who can edit their own profile attributes cannot make themselves admin.
    pub groups_claim: Option<String>,
    pub admin_groups: Vec<String>,
    /// Read-only: every session and its log (an admin group wins over an auditor group).
    pub auditor_groups: Vec<String>,
    pub bot_groups: Vec<String>,
    /// Whether a token must carry `email_verified: true` (one that carries it false is always
    /// refused).
    pub require_email_verified: bool,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        ClaimMapping {
            email_claim: "email".into(),
            role_claim: "role".into(),
            groups_claim: None,
            admin_groups: Vec::new(),
            auditor_groups: Vec::new(),
            bot_groups: Vec::new(),
            require_email_verified: false,
        }
    }
}

/// One string, or an array of them (identity providers send either for one group).
fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// `true` or `"true"`: Cognito sends the string.
fn is_true(value: &Value) -> bool {
    matches!(value, Value::Bool(true)) || value.as_str() == Some("true")
}

impl ClaimMapping {
    fn role(&self, claims: &Map<String, Value>) -> Result<Role, AuthError> {
        let Some(groups_claim) = &self.groups_claim else {
            return claims
                .get(&self.role_claim)
                .and_then(Value::as_str)
                .and_then(Role::parse)
                .ok_or_else(|| AuthError::Invalid(format!("{} must be admin, user, bot or auditor", self.role_claim)));
        };
        let groups = strings(claims.get(groups_claim));
        let admin = groups.iter().any(|g| self.admin_groups.iter().any(|a| a == g));
        let bot = groups.iter().any(|g| self.bot_groups.iter().any(|b| b == g));
        let auditor = groups.iter().any(|g| self.auditor_groups.iter().any(|a| a == g));
        match (admin, bot, auditor) {
            (true, true, _) => Err(AuthError::Forbidden(
                "the token's groups make it both admin and bot; a bot is never an admin".into(),
            )),
            (false, true, true) => Err(AuthError::Forbidden(
                "the token's groups make it both bot and auditor; a bot is never an auditor".into(),
            )),
            (true, false, _) => Ok(Role::Admin),
            (false, true, false) => Ok(Role::Bot),
            (false, false, true) => Ok(Role::Auditor),
            (false, false, false) => Ok(Role::User),
        }
    }

    /// The principal the validated `claims` describe. Bots must be allow-listed in `bots`.
    pub fn principal(&self, issuer: &str, claims: &Map<String, Value>, bots: &Bots) -> Result<Principal, AuthError> {
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AuthError::Invalid("missing claim sub".into()))?;
        let role = self.role(claims)?;
        let email = claims
            .get(&self.email_claim)
            .and_then(Value::as_str)
            .filter(|e| looks_like_email(e));
        if email.is_some() {
            match claims.get("email_verified") {
                Some(v) if !is_true(v) => {
                    return Err(AuthError::Invalid(
                        "the token's e-mail is not verified (email_verified)".into(),
                    ));
                }
                None if self.require_email_verified => {
                    return Err(AuthError::Invalid(
                        "this deployment requires email_verified=true in tokens".into(),
                    ));
                }
                _ => {}
            }
        }
        if matches!(role, Role::User | Role::Auditor) && email.is_none() {
            return Err(AuthError::Invalid(format!(
                "user and auditor tokens must carry a valid e-mail in the {} claim",
                self.email_claim
            )));
        }
        let acts_for = if role == Role::Bot {
            let grant = bots.get(subject).ok_or_else(|| {
                AuthError::Forbidden(format!("bot {subject} is not allow-listed in this deployment (BOTS)"))
            })?;
            Some(grant.clone())
        } else {
            None
        };
        Ok(Principal {
            issuer: issuer.to_string(),
            subject: subject.to_string(),
            // A bot acts for others; an e-mail on its token would let it pass as a user. The
            // e-mail is normalised here, once, as the broker stores it (`Email::parse`): an
            // identity provider's `Alice@Example.com` is the same person as the stored
            // `alice@example.com`, for every owner check.
            email: email
                .filter(|_| role != Role::Bot)
                .and_then(|e| crate::domain::Email::parse(e).ok())
                .map(|e| e.as_str().to_string()),
            role,
            acts_for,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn okta() -> ClaimMapping {
        ClaimMapping {
            groups_claim: Some("groups".into()),
            admin_groups: vec!["cib-admins".into()],
            auditor_groups: vec!["cib-auditors".into()],
            bot_groups: vec!["cib-bots".into()],
            ..ClaimMapping::default()
        }
    }

    fn bots() -> Bots {
        Bots::parse(r#"[{"subject":"svc-chat","acts_for":["*@example.com"]}]"#).unwrap()
    }

    #[test]
    fn groups_decide_the_role_and_a_role_claim_is_ignored() {
        let m = okta();
        let p = |v| m.principal("iss", &map(v), &bots());
        let admin = p(json!({"sub":"1","email":"a@example.com","groups":["x","cib-admins"]})).unwrap();
        assert_eq!(admin.role, Role::Admin);
        // A user-editable `role` attribute means nothing once groups are configured.
        let user = p(json!({"sub":"2","email":"u@example.com","role":"admin","groups":"staff"})).unwrap();
        assert_eq!(user.role, Role::User);
        let bot = p(json!({"sub":"svc-chat","groups":["cib-bots"]})).unwrap();
        assert_eq!(bot.role, Role::Bot);
        assert!(matches!(
            p(json!({"sub":"svc-chat","groups":["cib-bots","cib-admins"]})),
            Err(AuthError::Forbidden(_))
        ));
        let auditor = p(json!({"sub":"3","email":"c@example.com","groups":["cib-auditors"]})).unwrap();
        assert_eq!(auditor.role, Role::Auditor);
        // Admin wins: an admin reads everything an auditor does.
        let both = p(json!({"sub":"4","email":"d@example.com","groups":["cib-auditors","cib-admins"]})).unwrap();
        assert_eq!(both.role, Role::Admin);
        assert!(matches!(
            p(json!({"sub":"svc-chat","groups":["cib-bots","cib-auditors"]})),
            Err(AuthError::Forbidden(_))
        ));
        assert!(
            p(json!({"sub":"5","groups":["cib-auditors"]})).is_err(),
            "an auditor has an e-mail"
        );
    }

    #[test]
    fn the_default_mapping_reads_the_role_claim() {
        let m = ClaimMapping::default();
        let p = m
            .principal(
                "iss",
                &map(json!({"sub":"1","email":"a@example.com","role":"admin"})),
                &bots(),
            )
            .unwrap();
        assert_eq!(p.role, Role::Admin);
        assert!(
            m.principal("iss", &map(json!({"sub":"1","email":"a@example.com"})), &bots())
                .is_err()
        );
    }

    #[test]
    fn the_email_claim_is_configurable() {
        let m = ClaimMapping {
            email_claim: "preferred_username".into(),
            ..okta()
        };
        let p = m
            .principal(
                "iss",
                &map(json!({"sub":"1","email":"spoof@example.com","preferred_username":"real@example.com"})),
                &bots(),
            )
            .unwrap();
        assert_eq!(p.email.as_deref(), Some("real@example.com"));
    }

    #[test]
    fn email_verified_false_is_refused_and_can_be_required() {
        let m = ClaimMapping::default();
        let claims = |v: Value| {
            let mut c = map(json!({"sub":"1","email":"a@example.com","role":"user"}));
            if !v.is_null() {
                c.insert("email_verified".into(), v);
            }
            c
        };
        assert!(m.principal("i", &claims(json!(false)), &bots()).is_err());
        assert!(m.principal("i", &claims(json!("false")), &bots()).is_err());
        assert!(m.principal("i", &claims(json!(true)), &bots()).is_ok());
        assert!(m.principal("i", &claims(json!("true")), &bots()).is_ok());
        assert!(m.principal("i", &claims(Value::Null), &bots()).is_ok());
        let strict = ClaimMapping {
            require_email_verified: true,
            ..m
        };
        assert!(strict.principal("i", &claims(Value::Null), &bots()).is_err());
        assert!(strict.principal("i", &claims(json!(true)), &bots()).is_ok());
    }

    #[test]
    fn bots_must_be_allow_listed() {
        let m = ClaimMapping::default();
        let listed = m
            .principal(
                "i",
                &map(json!({"sub":"svc-chat","role":"bot","email":"x@example.com"})),
                &bots(),
            )
            .unwrap();
        assert!(listed.email.is_none(), "a bot does not pass as a user");
        assert!(listed.acts_for.is_some());
        assert!(matches!(
            m.principal("i", &map(json!({"sub":"rogue","role":"bot"})), &bots()),
            Err(AuthError::Forbidden(_))
        ));
    }
}
