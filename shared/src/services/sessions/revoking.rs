//! What an end takes back in AWS, batched per role: each session's room says what it does
//! itself (a console session's user locked again, say) and which cuts to write on which roles
//! (a role session's deny on its role, natural expiry included, for the consoles made from its
//! credentials); the cuts are then written once per role. The claim, the log and the expirer
//! around it are `ending`'s.

use std::collections::BTreeMap;
use std::time::Duration;

use time::OffsetDateTime;

use super::{SessionService, kinds};
use crate::domain::revocation::{CONSOLE_OUTLIVES_CREDENTIALS, CREDENTIALS_MARGIN, Cut};
use crate::domain::{RoleArn, Session};
use crate::ports::TargetIam;

/// How far the broker's clock may be from STS's.
const CLOCK_SKEW: Duration = Duration::from_secs(5);

impl SessionService {
    /// Takes access back for each session (one account's, whose JIT roles allowed now are
    /// `allowed_roles` where they were read); one result per session, in order.
    pub(super) async fn revoke_all(
        &self,
        sessions: &[Session],
        iam: &dyn TargetIam,
        allowed_roles: Option<&[RoleArn]>,
    ) -> Vec<Result<(), String>> {
        let now = self.clock.now();
        let mut results: Vec<Result<(), String>> = sessions.iter().map(|_| Ok(())).collect();
        let mut per_role: BTreeMap<String, (RoleArn, Vec<usize>, Vec<Cut>)> = BTreeMap::new();
        // The JIT roles the account allows now: read with the account (`reach`), or else
        // by the first console session's end that needs them.
        let mut allowed_now: BTreeMap<String, Vec<RoleArn>> = BTreeMap::new();
        if let (Some(first), Some(allowed)) = (sessions.first(), allowed_roles) {
            allowed_now.insert(first.account_id.to_string(), allowed.to_vec());
        }
        let mut cut = |role: &RoleArn, i: usize, c: Cut| {
            let e = per_role
                .entry(role.to_string())
                .or_insert_with(|| (role.clone(), Vec::new(), Vec::new()));
            e.1.push(i);
            e.2.push(c);
        };
        for (i, s) in sessions.iter().enumerate() {
            match kinds::room(s.kind).revoke(self, s, iam, now, &mut allowed_now).await {
                Ok(cuts) => {
                    for (role, c) in cuts {
                        cut(&role, i, c);
                    }
                }
                Err(e) => results[i] = Err(e),
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
}

/// A role session's (JIT, shell) cut: a deny on its role for its session name, at every end,
/// natural expiry included, as a console made from the credentials outlives them. Only when
/// no such console can be alive any more (the allowance covers clock skew with STS) is no
/// deny needed.
pub(super) fn role_session_cut(s: &Session, now: OffsetDateTime) -> Result<Vec<(RoleArn, Cut)>, String> {
    if s.credentials_expire_at
        .is_some_and(|t| t + CONSOLE_OUTLIVES_CREDENTIALS + CLOCK_SKEW <= now)
    {
        return Ok(Vec::new());
    }
    let Some(role) = &s.role else {
        return Err("a role session without a role".into());
    };
    let dead = s.credentials_expire_at.unwrap_or(s.expires_at) + CREDENTIALS_MARGIN + CONSOLE_OUTLIVES_CREDENTIALS;
    Ok(vec![(
        role.clone(),
        Cut::Session {
            id: s.id.clone(),
            dead_after: dead.unix_timestamp(),
        },
    )])
}
