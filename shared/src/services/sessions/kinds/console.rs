//! Console sessions: the user's own IAM user, unlocked with a password for the duration. This
//! room owns their checks (no live console session, console access provisioned), the JIT roles
//! they may switch into, their grant (a password checkout with the session deny narrowed) and
//! their revocation (the user locked again, and its switch-role sessions cut on every role it
//! could have switched into). Extending one moves its end only: the password stays.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{Kind, KindChecked, Start};
use crate::authz::{self, Action, Target};
use crate::domain::policy;
use crate::domain::revocation::{CONSOLE_OUTLIVES_CREDENTIALS, Cut};
use crate::domain::{Account, RoleArn, Secret, Session, SessionKind, iam_policies};
use crate::ports::{CloudError, TargetIam};
use crate::services::sessions::checks::console_session_live;
use crate::services::sessions::{Checked, Granted, SessionService, StartError, refused};

/// How long after a console user is locked a switch-role may still be issued: IAM's
/// propagation of the deny, plus clock skew.
const CONSOLE_CUT_ALLOWANCE: Duration = Duration::from_secs(30);
/// A console switch-role session lasts at most a role's longest MaxSessionDuration.
const SWITCHED_SESSION_MAX: Duration = Duration::from_secs(12 * 3600);

pub(super) struct Console;

#[async_trait]
impl Kind for Console {
    async fn check(&self, _svc: &SessionService, start: &Start<'_>) -> Result<KindChecked, StartError> {
        // Checked here so that repeated attempts are refusals (bounded), not session
        // logs; the create transaction's lock still settles a race.
        if !start.approved && start.console_live {
            return Err(console_session_live());
        }
        if start.req.role.is_some() {
            return Err(refused(
                "role-not-allowed",
                "console sessions use the user's own IAM user; omit role_arn",
            ));
        }
        if !start.its_iam_user().console_access {
            return Err(refused(
                "user-not-eligible",
                "the IAM user was provisioned without console access",
            ));
        }
        Ok(KindChecked::default())
    }

    // A console session may switch only into the JIT roles a JIT start would give the user
    // at once, for as long as the console session: a grant covering the role (its
    // `jit_role_arns`) that needs no approval. A role behind an approval (or a shorter
    // maximum) needs its own request; otherwise the user policy keeps switch-role refused.
    fn switch_roles(&self, start: &Start<'_>) -> Vec<RoleArn> {
        let Start {
            principal,
            user,
            account,
            groups,
            jit,
            duration,
            ..
        } = *start;
        if !jit.jit_enabled {
            return Vec::new();
        }
        let grants_jit = authz::decide(
            principal,
            Action::StartSession(SessionKind::Jit),
            Some(user),
            Target {
                account: Some(&account.id),
                owner: None,
                approvers: None,
            },
            groups,
        )
        .is_ok();
        let at_once = |role: &&RoleArn| {
            let asked = policy::Asked {
                account: &account.id,
                kind: SessionKind::Jit,
                role: Some(*role),
                permission_set: None,
                duration_seconds: duration,
                break_glass: false,
            };
            matches!(
                policy::choose(groups, &asked, jit.max_duration.seconds()),
                Ok(policy::Decision::Automatic)
            )
        };
        match grants_jit {
            true => jit.allowed_roles.iter().filter(at_once).cloned().collect(),
            false => Vec::new(),
        }
    }

    async fn grant(
        &self,
        svc: &SessionService,
        account: &Account,
        session: &Session,
        checked: &Checked,
        _secret: Option<Secret>,
        _link: bool,
    ) -> Result<Granted, (String, CloudError)> {
        let err = |step: &'static str| move |e: CloudError| (step.to_string(), e);
        let iam = svc.target.connect(account).await?;
        let policy = iam.password_policy().await.map_err(err("read the password policy"))?;
        let password = crate::services::passwords::generate(policy);
        iam.set_login_profile(session.its_iam_user(), &password)
            .await
            .map_err(err("set the console password"))?;
        // The session deny narrows to what a console session may not do: assume any
        // role but by the console's switch-role (and that only with JIT granted).
        let narrowed = if session.switch_roles.is_empty() {
            iam_policies::console_without_jit_document()
        } else {
            iam_policies::console_with_jit_document(session.its_iam_user(), &session.switch_roles)
        };
        iam.put_inline_policy(session.its_iam_user(), iam_policies::SESSION_DENY_POLICY, &narrowed)
            .await
            .map_err(err("narrow the session deny policy"))?;
        let links = iam_policies::role_guides(account, checked.its_iam_user(), &checked.jit)
            .into_iter()
            .filter(|g| session.switch_roles.contains(&g.role))
            .map(|g| (g.role, g.switch_role_url))
            .collect();
        Ok(Granted::Console {
            signin_url: format!("https://{}.signin.aws.amazon.com/console", account.aws_account_id),
            user_name: session.its_iam_user().to_string(),
            password,
            switch_role_links: links,
        })
    }

    // The end may have locked the user before this grant narrowed the deny: lock it again
    // (the expirer's retry would not, the session being ended).
    async fn after_lost_start(&self, svc: &SessionService, account: &Account, session: &Session) {
        let locked = match svc.target.connect(account).await {
            Ok(iam) => lock_user(session, &*iam).await,
            Err((step, e)) => Err(format!("{step}: {e}")),
        };
        if let Err(e) = locked {
            tracing::error!(session = %session.id, error = %e, alarm = "revocation-failing", "relocking a console user after a raced start failed");
        }
    }

    async fn revoke(
        &self,
        svc: &SessionService,
        session: &Session,
        iam: &dyn TargetIam,
        _now: OffsetDateTime,
        allowed_now: &mut BTreeMap<String, Vec<RoleArn>>,
    ) -> Result<Vec<(RoleArn, Cut)>, String> {
        lock_user(session, iam).await?;
        // Role sessions switched into until the lock took hold are cut: issued
        // before now, plus an allowance for IAM's propagation and clock skew.
        let issued_before = svc.clock.now() + CONSOLE_CUT_ALLOWANCE;
        Ok(switchable_roles(svc, session, allowed_now)
            .await
            .into_iter()
            .map(|role| {
                let cut = Cut::Console {
                    user: session.its_iam_user().to_string(),
                    issued_before,
                    dead_after: (issued_before + SWITCHED_SESSION_MAX + CONSOLE_OUTLIVES_CREDENTIALS).unix_timestamp(),
                };
                (role, cut)
            })
            .collect())
    }
}

/// The console user's deny-all back, and a password nobody knows.
async fn lock_user(s: &Session, iam: &dyn TargetIam) -> Result<(), String> {
    iam.put_inline_policy(
        s.its_iam_user(),
        iam_policies::SESSION_DENY_POLICY,
        &iam_policies::session_deny_document(),
    )
    .await
    .map_err(|e| format!("put the session deny policy: {e}"))?;
    // IAM's longest password, every class in it, meets any password policy: no need to read it.
    let unknown = crate::services::passwords::generate(crate::ports::PasswordPolicy { minimum_length: 128 });
    iam.set_login_profile(s.its_iam_user(), &unknown)
        .await
        .map_err(|e| format!("rotate the password: {e}"))
}

/// The roles a console session may have switched into: those it was given at its start
/// and, as JIT settings may have changed since, those the account allows now.
/// `allowed_now` remembers each account's answer across a batch.
async fn switchable_roles(
    svc: &SessionService,
    s: &Session,
    allowed_now: &mut BTreeMap<String, Vec<RoleArn>>,
) -> Vec<RoleArn> {
    let mut roles = s.switch_roles.clone();
    if roles.is_empty() {
        // Its user policy refused every switch-role for the whole session.
        return roles;
    }
    let account = s.account_id.to_string();
    if !allowed_now.contains_key(&account) {
        match svc.accounts.get_jit(&s.account_id).await {
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
