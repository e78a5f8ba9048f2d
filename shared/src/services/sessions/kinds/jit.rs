//! JIT sessions: an allowed role, assumed with the user's own key for a bounded time. This
//! room owns their checks (JIT on, the role allowed, within its maximum), their grant
//! (credentials and a console sign-in link), their extension (fresh credentials until the new
//! end) and their revocation (a deny on the role, natural expiry included); their end sweeps
//! the Session Manager sessions the credentials opened.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{Kind, KindChecked, SsmAtEnd, Start};
use crate::domain::{Account, JitSettings, ManagedUser, Secret, Session, UserStatus, iam_policies};
use crate::ports::CloudError;
use crate::services::sessions::checks::{has_credential, no_live_console, within_role_max};
use crate::services::sessions::extending::refused as refuse_extension;
use crate::services::sessions::{Checked, ExtendError, Granted, SessionService, StartError, refused};

pub(super) struct Jit;

#[async_trait]
impl Kind for Jit {
    async fn check(&self, svc: &SessionService, start: &Start<'_>) -> Result<KindChecked, StartError> {
        let Start {
            account,
            req,
            jit,
            duration,
            approved,
            console_live,
            ..
        } = *start;
        // The console's credentials could assume JIT roles with the broker's session
        // names; during a console session its user policy refuses that, and so would
        // the broker's own AssumeRole: no JIT session while one is live.
        if !approved {
            no_live_console(console_live, ", or switch role in the console")?;
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
        has_credential(start.its_iam_user())?;
        // The role's maximum as the settings keep it; read (and kept) where they do
        // not. A role changed since is caught by STS refusing the duration.
        let role_max = match jit.role_max_seconds(role) {
            // A maximum raised since is read again (a refusal costs the read; a
            // grant never does).
            Some(max) if duration <= max => max,
            _ => svc.reread_role_max(account, role).await?,
        };
        within_role_max(role, role_max, duration)?;
        Ok(KindChecked::default())
    }

    async fn grant(
        &self,
        svc: &SessionService,
        account: &Account,
        session: &Session,
        checked: &Checked,
        secret: Option<Secret>,
        link: bool,
    ) -> Result<Granted, (String, CloudError)> {
        let credentials = svc
            .assume_as_user(
                account,
                session,
                checked,
                secret,
                iam_policies::jit_session_policy(account.default_region.as_str()),
                Vec::new(),
            )
            .await?;
        let console_url = match link {
            true => svc
                .sign_in_link(account, session, &credentials)
                .await
                .map_err(|e| ("get a console sign-in token".to_string(), e))?,
            false => String::new(),
        };
        Ok(Granted::Jit {
            credentials,
            console_url,
        })
    }

    fn check_extension_settings(&self, session: &Session, jit: &JitSettings) -> Result<(), ExtendError> {
        let Some(role) = &session.role else {
            return Ok(());
        };
        if !jit.jit_enabled {
            return Err(refuse_extension(
                "jit-disabled",
                "JIT access is no longer enabled on the account",
            ));
        }
        if !jit.allowed_roles.contains(role) {
            return Err(refuse_extension(
                "role-not-allowed",
                format!("{role} is no longer allowed for JIT on this account"),
            ));
        }
        Ok(())
    }

    async fn extension_user(
        &self,
        svc: &SessionService,
        session: &Session,
        account: &Account,
        remaining: u32,
    ) -> Result<Option<ManagedUser>, ExtendError> {
        let Some(role) = &session.role else {
            return Ok(None);
        };
        let iam_user = svc
            .users
            .of_email(&session.user)
            .await?
            .into_iter()
            .find(|u| {
                u.account_id == account.id
                    && Some(&u.user_name) == session.iam_user.as_ref()
                    && u.status == UserStatus::Provisioned
            })
            .filter(|u| u.credential.is_some())
            .ok_or_else(|| {
                refuse_extension("user-not-eligible", "the session's IAM user has no credential any more")
            })?;
        // STS would refuse credentials longer than the role allows; moto would not.
        let iam = svc
            .target
            .connect(account)
            .await
            .map_err(|(step, error)| ExtendError::Cloud { step, error })?;
        let role_max = iam
            .get_role(role)
            .await
            .map(|r| r.max_session_seconds)
            .map_err(|e| ExtendError::Cloud {
                step: "read the role".into(),
                error: e,
            })?;
        if remaining > role_max {
            return Err(refuse_extension(
                "invalid-duration",
                format!(
                    "{role} allows sessions of at most {role_max} s; extended, this one would last {remaining} s from now"
                ),
            ));
        }
        Ok(Some(iam_user))
    }

    // Its credentials are counted as living until the new end at once, so an end racing the
    // extension keeps its deny long enough for the fresh ones.
    fn extension_claimed(&self, session: &mut Session, new_end: OffsetDateTime) {
        session.credentials_expire_at = Some(session.credentials_expire_at.map_or(new_end, |t| t.max(new_end)));
    }

    // Its credentials may have opened Session Manager sessions (a shell, a port forward, ECS
    // Exec) whose data channel outlives the deny.
    fn at_end(&self) -> SsmAtEnd {
        SsmAtEnd::Sweep
    }
}
