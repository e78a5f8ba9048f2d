//! A start's checks: what they read, at once (`gather`), and what they decide (group
//! permission, the grant policy, account state, duration against the role's maximum, role,
//! user, a live console session), with the refusals a role changed behind the broker's back
//! turns into.

use super::{Checked, SessionService, StartError, StartRequest, refused};
use crate::auth::Principal;
use crate::authz::{self, Action, Target};
use crate::domain::policy::{self, NoGrant};
use crate::domain::{
    AccessGroup, Account, AccountId, Email, JitSettings, ManagedUser, RoleArn, Session, SessionKind, UserStatus,
};
use crate::ports::{CloudError, StoreError, TargetIam};

impl SessionService {
    /// AssumeRole was still refused after the waits for IAM's propagation (`granting`): the
    /// role is read once to say why. Gone: `role-not-allowed`. Trusting the broker as it should:
    /// nothing the user or an admin must fix, so IAM is still applying a recent change (a new
    /// key, the user's policy, the trust itself): `NotYetInEffect` (503 with Retry-After).
    /// Otherwise AWS's refusal, naming the trust the role lacks.
    pub(super) async fn role_gone_or(
        &self,
        account: &Account,
        session: &Session,
        step: String,
        why: String,
    ) -> StartError {
        let as_came = |why: String| StartError::Cloud {
            step: step.clone(),
            error: CloudError::Refused(why),
        };
        let Some(role) = &session.role else {
            return as_came(why);
        };
        let info = match self.target.connect(account).await {
            Ok(iam) => iam.get_role(role).await,
            Err((_, e)) => Err(e),
        };
        match info {
            Err(CloudError::NotFound(_)) => refused("role-not-allowed", format!("{role} does not exist")),
            Err(_) => as_came(why),
            Ok(info) => {
                if let Err(e) = self
                    .accounts
                    .remember_role_max(&account.id, role, info.max_session_seconds)
                    .await
                {
                    tracing::warn!(error = %e, "keeping the role's maximum session duration failed");
                }
                if crate::domain::trust::has_brokers_trust(&info.trust_policy, role) {
                    StartError::Cloud {
                        step: step.clone(),
                        error: CloudError::NotYetInEffect(why),
                    }
                } else {
                    as_came(format!(
                        "{why} (the role's trust policy lacks the broker's trust: an admin applies role_trust_policy from GET /accounts/{}/jit)",
                        account.id
                    ))
                }
            }
        }
    }

    /// STS refused the duration although the settings' copy of the role's maximum allowed it:
    /// the role was changed. Its maximum is read again and kept, and the start refused.
    pub(super) async fn role_max_changed(&self, account: &Account, session: &Session) -> StartError {
        let Some(role) = &session.role else {
            return refused("invalid-duration", "the role allows a shorter session");
        };
        match self.reread_role_max(account, role).await {
            Ok(max) => refused(
                "invalid-duration",
                format!("{role} allows sessions of at most {max} seconds"),
            ),
            Err(_) => refused(
                "invalid-duration",
                format!("{role} allows a shorter session than asked (AWS refused the duration)"),
            ),
        }
    }

    /// The checks a start makes. `approved`: made again for the approval completing a
    /// request, whose own console lock (or the grant itself) settles a live console session.
    pub(super) async fn check(
        &self,
        principal: &Principal,
        user: &Email,
        account: &Account,
        req: &StartRequest,
        gathered: &Gathered,
        approved: bool,
    ) -> Result<Checked, StartError> {
        let groups = &gathered.groups;
        let jit = gathered.jit.clone().unwrap_or_default();
        if !jit.active {
            return Err(refused(
                "account-inactive",
                format!("access to account {} is not active", account.id),
            ));
        }
        let shell = match req.kind {
            SessionKind::Shell => Some(gathered.shell.clone().filter(|s| s.enabled).map(Box::new).ok_or_else(
                || {
                    refused(
                        "shell-disabled",
                        format!("shell sessions are not enabled on account {}", account.id),
                    )
                },
            )?),
            _ => None,
        };
        let max = match &shell {
            Some(s) => s.max_duration.seconds(),
            None => jit.max_duration.seconds(),
        };
        if req.duration_seconds < crate::domain::MIN_SESSION_SECONDS as i64 || req.duration_seconds > max as i64 {
            return Err(refused(
                "invalid-duration",
                format!(
                    "duration_seconds must be between {} and this account's maximum of {max}",
                    crate::domain::MIN_SESSION_SECONDS
                ),
            ));
        }
        let duration = req.duration_seconds as u32;
        let asked = policy::Asked {
            account: &account.id,
            kind: req.kind,
            role: req.role.as_ref(),
            duration_seconds: duration,
            break_glass: req.break_glass,
        };
        let decision = policy::choose(groups, &asked, max).map_err(|no| match no {
            NoGrant::NotGranted(why) => StartError::Denied(why),
            NoGrant::TooLong { max } => refused(
                "invalid-duration",
                format!("your access groups allow at most {max} seconds for this"),
            ),
        })?;
        let iam_user = eligible(&gathered.iam_users, &account.id).cloned().ok_or_else(|| {
            refused(
                "user-not-eligible",
                format!("{user} has no IAM user provisioned by the broker in this account"),
            )
        })?;
        match iam_user.status {
            UserStatus::Provisioned => {}
            UserStatus::Imported => return Err(refused("user-not-eligible", "imported users cannot start sessions")),
            other => {
                return Err(refused(
                    "user-not-eligible",
                    format!("the IAM user is {}, not provisioned", other.as_str()),
                ));
            }
        }
        match req.kind {
            SessionKind::Shell => {
                let settings = shell.as_ref().expect("read above");
                // As for JIT (below): the shell role is assumed with the broker's session names.
                if !approved {
                    no_live_console(gathered, "")?;
                }
                if req.role.is_some() {
                    return Err(refused(
                        "role-not-allowed",
                        "shell sessions use the account's shell role; omit role_arn",
                    ));
                }
                has_credential(&iam_user)?;
                let target = req
                    .target
                    .as_ref()
                    .ok_or_else(|| refused("target-not-found", "target is required for shell sessions"))?;
                // One opening of the account's secret for both connections.
                let access = self.target.opened(account).await.map_err(cloud)?;
                let reach = self.target.shell_with(&access).await.map_err(cloud)?;
                self.check_preferences(account, &*reach, settings).await?;
                self.check_target(account, &*reach, settings, target).await?;
                let iam = self.target.iam_with(&access).await.map_err(cloud)?;
                within_role_max(&settings.role, self.role_max(&*iam, &settings.role).await?, duration)?;
            }
            SessionKind::Jit => {
                // The console's credentials could assume JIT roles with the broker's session
                // names; during a console session its user policy refuses that, and so would
                // the broker's own AssumeRole: no JIT session while one is live.
                if !approved {
                    no_live_console(gathered, ", or switch role in the console")?;
                }
                if !jit.jit_enabled {
                    return Err(refused(
                        "jit-disabled",
                        format!("JIT access is not enabled on account {}", account.id),
                    ));
                }
                let role = req
                    .role
                    .as_ref()
                    .ok_or_else(|| refused("role-not-allowed", "role_arn is required for JIT sessions"))?;
                if !jit.allowed_roles.contains(role) {
                    return Err(refused(
                        "role-not-allowed",
                        format!("{role} is not allowed for JIT on this account"),
                    ));
                }
                has_credential(&iam_user)?;
                // The role's maximum as the settings keep it; read (and kept) where they do
                // not. A role changed since is caught by STS refusing the duration.
                let role_max = match jit.role_max_seconds(role) {
                    // A maximum raised since is read again (a refusal costs the read; a
                    // grant never does).
                    Some(max) if duration <= max => max,
                    _ => self.reread_role_max(account, role).await?,
                };
                within_role_max(role, role_max, duration)?;
            }
            SessionKind::Console => {
                // Checked here so that repeated attempts are refusals (bounded), not session
                // logs; the create transaction's lock still settles a race.
                if !approved && gathered.console_live {
                    return Err(console_session_live());
                }
                if req.role.is_some() {
                    return Err(refused(
                        "role-not-allowed",
                        "console sessions use the user's own IAM user; omit role_arn",
                    ));
                }
                if !iam_user.console_access {
                    return Err(refused(
                        "user-not-eligible",
                        "the IAM user was provisioned without console access",
                    ));
                }
            }
        }
        // A console session may switch only into the JIT roles a JIT start would give the user
        // at once, for as long as the console session: a grant covering the role (its
        // `jit_role_arns`) that needs no approval. A role behind an approval (or a shorter
        // maximum) needs its own request; otherwise the user policy keeps switch-role refused.
        let switch_roles = match req.kind {
            SessionKind::Console if jit.jit_enabled => {
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
            _ => Vec::new(),
        };
        Ok(Checked {
            iam_user,
            jit,
            duration,
            switch_roles,
            decision,
            shell,
        })
    }

    /// The reads a start's checks need, made at once: the user's groups (memberships, then
    /// the groups in one read), the account with its settings (one read), and the user's IAM
    /// users, then (with `console_check`) the console lock of the one in this account.
    pub(super) async fn gather(
        &self,
        user: &Email,
        account: &AccountId,
        console_check: bool,
    ) -> Result<Gathered, StoreError> {
        let users = async {
            let users = self.users.of_email(user).await?;
            let live = match eligible(&users, account) {
                Some(u) if console_check => self.sessions.console_session_live(account, &u.user_name).await?,
                _ => false,
            };
            Ok::<_, StoreError>((users, live))
        };
        let (groups, settings, (iam_users, console_live)) = futures::try_join!(
            self.groups.groups_of(user),
            self.accounts.get_with_settings(account),
            users
        )?;
        Ok(Gathered {
            groups,
            account: settings.account,
            jit: settings.jit,
            shell: settings.shell,
            iam_users,
            console_live,
        })
    }

    /// A JIT role's maximum session duration read from IAM now, and kept with the JIT settings
    /// (a missing role is refused `role-not-allowed`).
    async fn reread_role_max(&self, account: &Account, role: &RoleArn) -> Result<u32, StartError> {
        let iam = self.target.connect(account).await.map_err(cloud)?;
        let max = self.role_max(&*iam, role).await?;
        if let Err(e) = self.accounts.remember_role_max(&account.id, role, max).await {
            tracing::warn!(error = %e, "keeping the role's maximum session duration failed");
        }
        Ok(max)
    }

    /// The role's maximum session duration, read from IAM.
    async fn role_max(&self, iam: &dyn TargetIam, role: &RoleArn) -> Result<u32, StartError> {
        iam.get_role(role)
            .await
            .map(|r| r.max_session_seconds)
            .map_err(|e| match e {
                CloudError::NotFound(_) => refused("role-not-allowed", format!("{role} does not exist")),
                e => StartError::Cloud {
                    step: "read the role".into(),
                    error: e,
                },
            })
    }
}

/// What a start's checks read (`SessionService::gather`).
pub(super) struct Gathered {
    pub(super) groups: Vec<AccessGroup>,
    pub(super) account: Option<Account>,
    jit: Option<JitSettings>,
    shell: Option<crate::domain::shell::ShellSettings>,
    iam_users: Vec<ManagedUser>,
    /// Whether the user's IAM user in the account has a live console session (read only where
    /// the start must check it).
    console_live: bool,
}

/// The user's IAM user in `account` that sessions may use, if any.
fn eligible<'a>(users: &'a [ManagedUser], account: &AccountId) -> Option<&'a ManagedUser> {
    users
        .iter()
        .find(|u| u.account_id == *account && u.status != UserStatus::Unprovisioned)
}

/// A role session (JIT or shell) is refused while the user's console session lives.
fn no_live_console(gathered: &Gathered, hint: &str) -> Result<(), StartError> {
    if gathered.console_live {
        return Err(refused(
            "console-session-live",
            format!("this user has a live console session on this account; end it first{hint}"),
        ));
    }
    Ok(())
}

/// STS would refuse a session longer than the role allows: refused here, with the reason.
fn within_role_max(role: &RoleArn, role_max: u32, duration: u32) -> Result<(), StartError> {
    if duration > role_max {
        return Err(refused(
            "invalid-duration",
            format!("{role} allows sessions of at most {role_max} seconds"),
        ));
    }
    Ok(())
}

/// A role session is assumed with the user's own key.
fn has_credential(user: &ManagedUser) -> Result<(), StartError> {
    match user.credential {
        Some(_) => Ok(()),
        None => Err(refused(
            "user-not-eligible",
            "the IAM user has no credential; create one first",
        )),
    }
}

fn cloud((step, error): (String, CloudError)) -> StartError {
    StartError::Cloud { step, error }
}

pub(super) fn console_session_live() -> StartError {
    refused(
        "console-session-live",
        "this user already has a live console session on this account (one password, one session); end it first",
    )
}
