//! Sessions as the benchmarks seed them: live JIT sessions of a fixture's user on its role,
//! written straight to the table (`DynamoStore::seed_live_sessions`).

use shared::domain::{
    AccountId, AwsAccountId, Email, IamUserName, RoleArn, Session, SessionId, SessionKind, SessionStatus,
};
use time::OffsetDateTime;

/// A live JIT session of `f`'s user, `started_at` to `expires_at`, its log at `log_key` ending
/// at `log_head`.
pub fn live_session(
    f: &e2e::Fixture,
    id: SessionId,
    (started_at, expires_at): (OffsetDateTime, OffsetDateTime),
    (log_key, log_head): (String, String),
    reason: &str,
) -> Session {
    Session {
        id,
        account_id: AccountId::parse(&f.account).unwrap(),
        aws_account_id: AwsAccountId::parse(&f.aws_account).unwrap(),
        kind: SessionKind::Jit,
        user: Email::parse(&f.email).unwrap(),
        iam_user: Some(IamUserName::parse(&f.email).unwrap()),
        identity_center: None,
        role: Some(RoleArn::parse(&f.role).unwrap()),
        duration_seconds: (expires_at - started_at).whole_seconds().clamp(0, u32::MAX.into()) as u32,
        reason: reason.into(),
        requested_by: f.email.clone(),
        started_at,
        expires_at,
        status: SessionStatus::Active,
        ending: None,
        revocation_failures: 0,
        last_error: None,
        log_key,
        log_head,
        version: 1,
        credentials_expire_at: None,
        switch_roles: Vec::new(),
        target: None,
        ssm_sessions: Vec::new(),
        activity_due_at: None,
        activity: None,
        request: None,
        pending_extension: None,
        extensions: Vec::new(),
        break_glass: false,
        reviewers: Vec::new(),
        review: None,
    }
}
