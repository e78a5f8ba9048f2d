//! What an end takes back in AWS, batched per role: a JIT or shell session's deny on its role
//! (natural expiry included, for the consoles made from its credentials), and for a console
//! session its IAM user locked again and its switch-role sessions cut on every role it could
//! have switched into. The claim, the log and the expirer around it are `ending`'s.

use std::collections::BTreeMap;
use std::time::Duration;

use super::SessionService;
use crate::domain::revocation::{CONSOLE_OUTLIVES_CREDENTIALS, CREDENTIALS_MARGIN, Cut};
use crate::domain::{RoleArn, Session, SessionKind, iam_policies};
use crate::ports::TargetIam;

/// How far the broker's clock may be from STS's.
const CLOCK_SKEW: Duration = Duration::from_secs(5);
/// How long after a console user is locked a switch-role may still be issued: IAM's
/// propagation of the deny, plus clock skew.
const CONSOLE_CUT_ALLOWANCE: Duration = Duration::from_secs(30);
/// A console switch-role session lasts at most a role's longest MaxSessionDuration.
const SWITCHED_SESSION_MAX: Duration = Duration::from_secs(12 * 3600);

impl SessionService {
    /// Takes access back for each session; one result per session, in order.
    pub(super) async fn revoke_all(&self, sessions: &[Session], iam: &dyn TargetIam) -> Vec<Result<(), String>> {
        let now = self.clock.now();
        let mut results: Vec<Result<(), String>> = sessions.iter().map(|_| Ok(())).collect();
        let mut per_role: BTreeMap<String, (RoleArn, Vec<usize>, Vec<Cut>)> = BTreeMap::new();
        // The JIT roles each account allows now, read once per batch (the expirer's batches
        // are one account's sessions).
        let mut allowed_now: BTreeMap<String, Vec<RoleArn>> = BTreeMap::new();
        let mut cut = |role: &RoleArn, i: usize, c: Cut| {
            let e = per_role
                .entry(role.to_string())
                .or_insert_with(|| (role.clone(), Vec::new(), Vec::new()));
            e.1.push(i);
            e.2.push(c);
        };
        for (i, s) in sessions.iter().enumerate() {
            match s.kind {
                SessionKind::Jit | SessionKind::Shell => {
                    // Denied at every end, natural expiry included: a console made from the
                    // credentials outlives them. Only when no such console can be alive any
                    // more (the allowance covers clock skew with STS) is no deny needed.
                    if s.credentials_expire_at
                        .is_some_and(|t| t + CONSOLE_OUTLIVES_CREDENTIALS + CLOCK_SKEW <= now)
                    {
                        continue;
                    }
                    let Some(role) = &s.role else {
                        results[i] = Err("a role session without a role".into());
                        continue;
                    };
                    let dead = s.credentials_expire_at.unwrap_or(s.expires_at)
                        + CREDENTIALS_MARGIN
                        + CONSOLE_OUTLIVES_CREDENTIALS;
                    cut(
                        role,
                        i,
                        Cut::Session {
                            id: s.id.clone(),
                            dead_after: dead.unix_timestamp(),
                        },
                    );
                }
                SessionKind::Console => {
                    if let Err(e) = self.lock_console_user(s, iam).await {
                        results[i] = Err(e);
                        continue;
                    }
                    // Role sessions switched into until the lock took hold are cut: issued
                    // before now, plus an allowance for IAM's propagation and clock skew.
                    let issued_before = self.clock.now() + CONSOLE_CUT_ALLOWANCE;
                    for role in self.switchable_roles(s, &mut allowed_now).await {
                        cut(
                            &role,
                            i,
                            Cut::Console {
                                user: s.iam_user.to_string(),
                                issued_before,
                                dead_after: (issued_before + SWITCHED_SESSION_MAX + CONSOLE_OUTLIVES_CREDENTIALS)
                                    .unix_timestamp(),
                            },
                        );
                    }
                }
            }
        }
        for (role, indexes, cuts) in per_role.into_values() {
            if let Err(e) = self.revoker.apply(iam, &role, &cuts).await {
                for i in indexes {
                    results[i] = Err(e.clone());
                }
            }
        }
        results
    }

    /// The roles a console session may have switched into: those it was given at its start
    /// and, as JIT settings may have changed since, those the account allows now.
    /// `allowed_now` remembers each account's answer across a batch.
    async fn switchable_roles(&self, s: &Session, allowed_now: &mut BTreeMap<String, Vec<RoleArn>>) -> Vec<RoleArn> {
        let mut roles = s.switch_roles.clone();
        if roles.is_empty() {
            // Its user policy refused every switch-role for the whole session.
            return roles;
        }
        let account = s.account_id.to_string();
        if !allowed_now.contains_key(&account) {
            match self.accounts.get_jit(&s.account_id).await {
                Ok(jit) => {
                    allowed_now.insert(account.clone(), jit.map(|j| j.allowed_roles).unwrap_or_default());
                }
                // Not remembered: the next console session of the batch tries again.
                Err(e) => {
                    tracing::warn!(session = %s.id, error = %e, "reading the JIT roles failed; cutting the ones the session started with")
                }
            }
        }
        if let Some(now) = allowed_now.get(&account) {
            roles.extend(now.iter().filter(|r| !s.switch_roles.contains(r)).cloned());
        }
        roles
    }

    /// The console user's deny-all back, and a password nobody knows.
    pub(super) async fn lock_console_user(&self, s: &Session, iam: &dyn TargetIam) -> Result<(), String> {
        iam.put_inline_policy(
            &s.iam_user,
            iam_policies::SESSION_DENY_POLICY,
            &iam_policies::session_deny_document(),
        )
        .await
        .map_err(|e| format!("put the session deny policy: {e}"))?;
        let policy = iam
            .password_policy()
            .await
            .map_err(|e| format!("read the password policy: {e}"))?;
        iam.set_login_profile(&s.iam_user, &crate::services::passwords::generate(policy))
            .await
            .map_err(|e| format!("rotate the password: {e}"))
    }
}
