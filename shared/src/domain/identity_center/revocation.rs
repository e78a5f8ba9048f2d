//! How an Identity Center grant's end refuses what the portal already handed out: a Deny in
//! the permission set's inline policy (IAM Identity Center User Guide, "Revoke active IAM role
//! sessions created by permission sets": a Deny keyed on `identitystore:userId`), narrowed to
//! the account (`aws:PrincipalAccount`) and to credentials issued before the end
//! (`aws:TokenIssueTime`, IAM User Guide, "Revoke IAM role temporary security credentials").
//! That is per user, per account and per permission set: the finest grain the portal's
//! credentials allow, as every user of a permission set in an account shares its one role.
//!
//! The broker's statements (Sid `CibEnd…`) sit beside the customer's, which are kept as they
//! are. One statement per user and account, the later end kept; each is dropped once every
//! credential and console it covers has expired (its `Until`, in the Sid), so the policy stays
//! as small as the live ends need. Provisioned, the inline policy is the role's, under IAM's
//! 10,240-character quota for a role's inline policies.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::domain::AwsAccountId;

/// IAM's quota for a role's inline policies together, white space not counted (IAM quotas
/// page): the provisioned role's `AwsSSOInlinePolicy` is the permission set's inline policy.
pub const ROLE_INLINE_QUOTA: usize = 10_240;

const SID_PREFIX: &str = "CibEnd";

/// One end to write: the user's credentials for this permission set in this account, issued
/// before `at`, are refused until `until` (when the last of them, and any console opened
/// with them, has expired).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcCut {
    pub user_id: String,
    pub account: AwsAccountId,
    pub at: OffsetDateTime,
    pub until: OffsetDateTime,
}

/// Why an inline policy cannot take the cut.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CutError {
    #[error("the permission set's inline policy is not a policy the broker can read: {0}")]
    Unreadable(String),
    #[error(
        "the permission set's inline policy would be {size} characters with the broker's denies, over IAM's {ROLE_INLINE_QUOTA} for a role: retried as older denies expire"
    )]
    OverQuota { size: usize },
}

/// The Sid of a user's statement in an account, without its `Until` part.
fn sid_stem(user_id: &str, account: &AwsAccountId) -> String {
    let user: String = user_id.chars().filter(char::is_ascii_alphanumeric).collect();
    format!("{SID_PREFIX}{account}U{user}")
}

fn statement(cut: &IcCut) -> Value {
    let at = cut.at.replace_nanosecond(0).unwrap_or(cut.at);
    json!({
        "Sid": format!("{}Until{}", sid_stem(&cut.user_id, &cut.account), cut.until.unix_timestamp()),
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {
            "StringEquals": {
                "identitystore:userId": cut.user_id,
                "aws:PrincipalAccount": cut.account.as_str(),
            },
            "DateLessThan": {"aws:TokenIssueTime": at.format(&Rfc3339).expect("a UTC time formats")},
        },
    })
}

/// A broker statement's stem and `Until`, or `None` for the customer's own.
fn ours(stmt: &Value) -> Option<(String, i64)> {
    let sid = stmt.get("Sid")?.as_str()?;
    let rest = sid.strip_prefix(SID_PREFIX)?;
    let (stem, until) = rest.rsplit_once("Until")?;
    Some((format!("{SID_PREFIX}{stem}"), until.parse().ok()?))
}

fn when(stmt: &Value) -> Option<OffsetDateTime> {
    let t = stmt.pointer("/Condition/DateLessThan/aws:TokenIssueTime")?.as_str()?;
    OffsetDateTime::parse(t, &Rfc3339).ok()
}

/// The inline policy with `cuts` written and the broker's expired statements dropped (at
/// `now`); `None` when nothing is left of it (no customer statement, no live deny). The
/// customer's statements stay as they are.
pub fn with_cuts(inline: &str, cuts: &[IcCut], now: OffsetDateTime) -> Result<Option<String>, CutError> {
    let mut doc: Map<String, Value> = if inline.trim().is_empty() {
        Map::new()
    } else {
        serde_json::from_str(inline).map_err(|e| CutError::Unreadable(e.to_string()))?
    };
    let statements = match doc.remove("Statement") {
        None => Vec::new(),
        Some(Value::Array(v)) => v,
        Some(one @ Value::Object(_)) => vec![one],
        Some(_) => return Err(CutError::Unreadable("Statement is neither a list nor an object".into())),
    };
    let mut kept: Vec<Value> = Vec::new();
    for stmt in statements {
        match ours(&stmt) {
            None => kept.push(stmt),
            Some((_, until)) if until <= now.unix_timestamp() => {}
            Some(_) => kept.push(stmt),
        }
    }
    for cut in cuts {
        let stem = sid_stem(&cut.user_id, &cut.account);
        // The same user's earlier end in the account: the later one covers it (credentials
        // issued before the earlier end were issued before the later one), until the later
        // of the two expiries.
        let mut merged = cut.clone();
        kept.retain(|stmt| match ours(stmt) {
            Some((s, until)) if s == stem => {
                if let Some(t) = when(stmt) {
                    merged.at = merged.at.max(t);
                }
                merged.until = merged
                    .until
                    .max(OffsetDateTime::from_unix_timestamp(until).unwrap_or(merged.until));
                false
            }
            _ => true,
        });
        kept.push(statement(&merged));
    }
    if kept.is_empty() {
        return Ok(None);
    }
    doc.entry("Version").or_insert_with(|| json!("2012-10-17"));
    doc.insert("Statement".into(), Value::Array(kept));
    let text = serde_json::to_string(&Value::Object(doc)).expect("JSON serializes");
    let size = text.chars().filter(|c| !c.is_whitespace()).count();
    if size > ROLE_INLINE_QUOTA {
        return Err(CutError::OverQuota { size });
    }
    Ok(Some(text))
}

/// The broker's statements in `inline` that nothing can still need at `now`, dropped: the
/// policy left (`None`: none) and the accounts whose denies went, to provision it to; `None`
/// when none expired (or the policy is not one the broker reads).
pub fn expired_dropped(inline: &str, now: OffsetDateTime) -> Option<(Option<String>, Vec<AwsAccountId>)> {
    let doc: Value = serde_json::from_str(inline).ok()?;
    let statements = match doc.get("Statement") {
        Some(Value::Array(v)) => v.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => return None,
    };
    let mut accounts: Vec<AwsAccountId> = statements
        .iter()
        .filter(|stmt| ours(stmt).is_some_and(|(_, until)| until <= now.unix_timestamp()))
        .filter_map(|stmt| stmt.pointer("/Condition/StringEquals/aws:PrincipalAccount")?.as_str())
        .filter_map(|a| AwsAccountId::parse(a).ok())
        .collect();
    if accounts.is_empty() {
        return None;
    }
    accounts.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    accounts.dedup();
    let left = with_cuts(inline, &[], now).ok()?;
    Some((left, accounts))
}

/// Whether `inline` (as the provisioned role serves it) refuses what `cut` covers: the
/// read-back an end waits for.
pub fn holds(inline: &str, cut: &IcCut) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(inline) else {
        return false;
    };
    let stem = sid_stem(&cut.user_id, &cut.account);
    let statements = match doc.get("Statement") {
        Some(Value::Array(v)) => v.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => return false,
    };
    statements.iter().any(|stmt| {
        ours(stmt).is_some_and(|(s, _)| s == stem)
            && when(stmt).is_some_and(|t| t >= cut.at.replace_nanosecond(0).unwrap_or(cut.at))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + s).unwrap()
    }

    fn cut(user: &str, account: &str, at: i64, until: i64) -> IcCut {
        IcCut {
            user_id: user.into(),
            account: AwsAccountId::parse(account).unwrap(),
            at: t(at),
            until: t(until),
        }
    }

    const CUSTOMER: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;

    fn statements(doc: &str) -> Vec<Value> {
        serde_json::from_str::<Value>(doc).unwrap()["Statement"]
            .as_array()
            .unwrap()
            .clone()
    }

    #[test]
    fn a_cut_sits_beside_the_customers_statements() {
        let doc = with_cuts(CUSTOMER, &[cut("u-1", "220000000002", 0, 3600)], t(0))
            .unwrap()
            .unwrap();
        let s = statements(&doc);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0]["Sid"], "Read");
        assert_eq!(s[1]["Effect"], "Deny");
        assert_eq!(s[1]["Action"], "*");
        assert_eq!(s[1]["Condition"]["StringEquals"]["identitystore:userId"], "u-1");
        assert_eq!(
            s[1]["Condition"]["StringEquals"]["aws:PrincipalAccount"],
            "220000000002"
        );
        assert_eq!(
            s[1]["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            "2027-01-15T08:00:00Z"
        );
        assert!(holds(&doc, &cut("u-1", "220000000002", 0, 3600)));
        assert!(!holds(&doc, &cut("u-2", "220000000002", 0, 3600)));
        assert!(!holds(&doc, &cut("u-1", "220000000003", 0, 3600)));
        assert!(!holds(CUSTOMER, &cut("u-1", "220000000002", 0, 3600)));
    }

    #[test]
    fn one_statement_per_user_and_account_the_later_end_kept() {
        let first = with_cuts("", &[cut("u-1", "220000000002", 0, 3600)], t(0))
            .unwrap()
            .unwrap();
        let second = with_cuts(&first, &[cut("u-1", "220000000002", 600, 1200)], t(600))
            .unwrap()
            .unwrap();
        let s = statements(&second);
        assert_eq!(s.len(), 1);
        assert_eq!(
            s[0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            "2027-01-15T08:10:00Z"
        );
        // The earlier end's credentials may live longer: the later expiry is kept.
        assert!(
            s[0]["Sid"]
                .as_str()
                .unwrap()
                .ends_with(&format!("Until{}", t(3600).unix_timestamp()))
        );
        // Another account and another user each get their own.
        let third = with_cuts(
            &second,
            &[
                cut("u-1", "220000000003", 700, 4000),
                cut("u-2", "220000000002", 700, 4000),
            ],
            t(700),
        )
        .unwrap()
        .unwrap();
        assert_eq!(statements(&third).len(), 3);
        // A read-back for the earlier end is satisfied by the later statement.
        assert!(holds(&third, &cut("u-1", "220000000002", 0, 3600)));
        assert!(holds(&third, &cut("u-1", "220000000002", 600, 3600)));
        assert!(!holds(&third, &cut("u-1", "220000000002", 900, 3600)));
    }

    #[test]
    fn expired_denies_are_dropped_and_nothing_left_is_no_policy() {
        let doc = with_cuts(CUSTOMER, &[cut("u-1", "220000000002", 0, 3600)], t(0))
            .unwrap()
            .unwrap();
        let later = with_cuts(&doc, &[], t(3600)).unwrap().unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&later).unwrap(),
            serde_json::from_str::<Value>(CUSTOMER).unwrap()
        );
        let ours_only = with_cuts("", &[cut("u-1", "220000000002", 0, 3600)], t(0))
            .unwrap()
            .unwrap();
        assert_eq!(
            with_cuts(&ours_only, &[], t(3599)).unwrap().as_deref(),
            Some(ours_only.as_str())
        );
        assert_eq!(with_cuts(&ours_only, &[], t(3600)).unwrap(), None);
    }

    #[test]
    fn expired_denies_are_found_with_their_accounts() {
        let doc = with_cuts(
            CUSTOMER,
            &[cut("u-1", "220000000002", 0, 3600), cut("u-2", "220000000003", 0, 7200)],
            t(0),
        )
        .unwrap()
        .unwrap();
        assert_eq!(expired_dropped(&doc, t(3599)), None, "none expired yet");
        let (left, accounts) = expired_dropped(&doc, t(3600)).unwrap();
        assert_eq!(accounts, vec![AwsAccountId::parse("220000000002").unwrap()]);
        let left = left.unwrap();
        assert_eq!(statements(&left).len(), 2, "the customer's and u-2's: {left}");
        let (left, accounts) = expired_dropped(&left, t(7200)).unwrap();
        assert_eq!(accounts, vec![AwsAccountId::parse("220000000003").unwrap()]);
        assert_eq!(
            serde_json::from_str::<Value>(&left.unwrap()).unwrap(),
            serde_json::from_str::<Value>(CUSTOMER).unwrap()
        );
        assert_eq!(
            expired_dropped(CUSTOMER, t(99_999)),
            None,
            "the customer's statements are never ours"
        );
        assert_eq!(expired_dropped("", t(0)), None);
    }

    #[test]
    fn over_the_roles_quota_is_refused_and_garbage_is_not_read() {
        let many: Vec<IcCut> = (0..60)
            .map(|i| {
                cut(
                    &format!("user-{i:04}-aaaaaaaaaaaaaaaaaaaaaaaa"),
                    "220000000002",
                    0,
                    3600,
                )
            })
            .collect();
        assert!(matches!(with_cuts("", &many, t(0)), Err(CutError::OverQuota { .. })));
        assert!(with_cuts("", &many[..20], t(0)).is_ok());
        assert!(matches!(
            with_cuts("not json", &many[..1], t(0)),
            Err(CutError::Unreadable(_))
        ));
        assert!(matches!(
            with_cuts(r#"{"Statement":"x"}"#, &many[..1], t(0)),
            Err(CutError::Unreadable(_))
        ));
    }
}
