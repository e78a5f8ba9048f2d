//! A start's checks: what they read, at once (`gather`), and what every kind's start is
//! checked for (account state, the duration, the grant policy, the user's IAM user), before
//! the kind's own checks (its room's, `kinds`); the helpers the rooms' checks share (a live
//! console session, the user's key, a role's maximum), and the refusals a role changed behind
//! the broker's back turns into.

use super::{Checked, SessionService, StartError, StartRequest, kinds, refused};
use crate::auth::Principal;
use crate::domain::policy::{self, NoGrant};
use crate::domain::{AccessGroup, Account, AccountId, Email, JitSettings, ManagedUser, RoleArn, Session, UserStatus};
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
        let room = kinds::room(req.kind);
        let shell = room.settings(account, gathered.shell.as_ref())?;
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
            permission_set: req.permission_set.as_ref(),
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
        let iam_user = match req.kind.facts().uses_iam_user() {
            true => Some(usable_iam_user(&gathered.iam_users, user, &account.id)?),
            false => None,
        };
        let start = kinds::Start {
            principal,
            user,
            account,
            req,
            groups,
            jit: &jit,
            iam_user: iam_user.as_ref(),
            shell: shell.as_deref(),
            duration,
            approved,
            console_live: gathered.console_live,
        };
        let own = room.check(self, &start).await?;
        let switch_roles = room.switch_roles(&start);
        Ok(Checked {
            iam_user,
            identity_center: own.identity_center,
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
    pub(super) async fn reread_role_max(&self, account: &Account, role: &RoleArn) -> Result<u32, StartError> {
        let iam = self.target.connect(account).await.map_err(cloud)?;
        let max = self.role_max(&*iam, role).await?;
        if let Err(e) = self.accounts.remember_role_max(&account.id, role, max).await {
            tracing::warn!(error = %e, "keeping the role's maximum session duration failed");
        }
        Ok(max)
    }

    /// The role's maximum session duration, read from IAM.
    pub(super) async fn role_max(&self, iam: &dyn TargetIam, role: &RoleArn) -> Result<u32, StartError> {
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
    pub(super) shell: Option<crate::domain::shell::ShellSettings>,
    iam_users: Vec<ManagedUser>,
    /// Whether the user's IAM user in the account has a live console session (read only where
    /// the start must check it).
    console_live: bool,
}

/// The user's IAM user in `account`, provisioned by the broker: what the kinds given through
/// one require.
fn usable_iam_user(users: &[ManagedUser], user: &Email, account: &AccountId) -> Result<ManagedUser, StartError> {
    let iam_user = eligible(users, account).cloned().ok_or_else(|| {
        refused(
            "user-not-eligible",
            format!("{user} has no IAM user provisioned by the broker in this account"),
        )
    })?;
    match iam_user.status {
        UserStatus::Provisioned => Ok(iam_user),
        UserStatus::Imported => Err(refused("user-not-eligible", "imported users cannot start sessions")),
        other => Err(refused(
            "user-not-eligible",
            format!("the IAM user is {}, not provisioned", other.as_str()),
        )),
    }
}

/// The user's IAM user in `account` that sessions may use, if any.
fn eligible<'a>(users: &'a [ManagedUser], account: &AccountId) -> Option<&'a ManagedUser> {
    users
        .iter()
        .find(|u| u.account_id == *account && u.status != UserStatus::Unprovisioned)
}

/// A role session (JIT or shell) is refused while the user's console session lives.
pub(super) fn no_live_console(console_live: bool, hint: &str) -> Result<(), StartError> {
    if console_live {
        return Err(refused(
            "console-session-live",
            format!("this user has a live console session on this account; end it first{hint}"),
        ));
    }
    Ok(())
}

/// STS would refuse a session longer than the role allows: refused here, with the reason.
pub(super) fn within_role_max(role: &RoleArn, role_max: u32, duration: u32) -> Result<(), StartError> {
    if duration > role_max {
        return Err(refused(
            "invalid-duration",
            format!("{role} allows sessions of at most {role_max} seconds"),
        ));
    }
    Ok(())
}

/// A role session is assumed with the user's own key.
pub(super) fn has_credential(user: &ManagedUser) -> Result<(), StartError> {
    match user.credential {
        Some(_) => Ok(()),
        None => Err(refused(
            "user-not-eligible",
            "the IAM user has no credential; create one first",
        )),
    }
}

pub(super) fn cloud((step, error): (String, CloudError)) -> StartError {
    StartError::Cloud { step, error }
}

pub(super) fn console_session_live() -> StartError {
    refused(
        "console-session-live",
        "this user already has a live console session on this account (one password, one session); end it first",
    )
}
