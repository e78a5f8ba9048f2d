//! Shell sessions: the account's shell role, assumed with the user's own key, scoped to
//! opening Session Manager sessions on one target. This room owns their settings (enabled,
//! their own maximum and role), their checks (the target and the account's Session Manager
//! preferences, through `super::super::shell`), their grant (credentials and how to connect)
//! and their revocation (a deny on the shell role); their end closes and records the Session
//! Manager sessions they opened. They are not extended.

use async_trait::async_trait;

use super::{Kind, KindChecked, SsmAtEnd, Start};
use crate::domain::shell::{PREFERENCES_DOCUMENT, RUN_AS_TAG, ShellSettings, shell_session_policy};
use crate::domain::{Account, Secret, Session};
use crate::ports::CloudError;
use crate::services::sessions::checks::{cloud, has_credential, no_live_console, within_role_max};
use crate::services::sessions::extending::refused as refuse_extension;
use crate::services::sessions::{Checked, ExtendError, Granted, SessionService, ShellConnect, StartError, refused};

pub(super) struct Shell;

#[async_trait]
impl Kind for Shell {
    fn settings(
        &self,
        account: &Account,
        shell: Option<&ShellSettings>,
    ) -> Result<Option<Box<ShellSettings>>, StartError> {
        let settings = shell.filter(|s| s.enabled).cloned().map(Box::new).ok_or_else(|| {
            refused(
                "shell-disabled",
                format!("shell sessions are not enabled on account {}", account.id),
            )
        })?;
        Ok(Some(settings))
    }

    async fn check(&self, svc: &SessionService, start: &Start<'_>) -> Result<KindChecked, StartError> {
        let Start {
            account,
            req,
            shell,
            duration,
            approved,
            console_live,
            ..
        } = *start;
        let settings = shell.expect("read above");
        // As for JIT: the shell role is assumed with the broker's session names.
        if !approved {
            no_live_console(console_live, "")?;
        }
        if req.role.is_some() {
            return Err(refused(
                "role-not-allowed",
                "shell sessions use the account's shell role; omit role_arn",
            ));
        }
        has_credential(start.its_iam_user())?;
        let target = req
            .target
            .as_ref()
            .ok_or_else(|| refused("target-not-found", "target is required for shell sessions"))?;
        // One opening of the account's secret for both connections.
        let access = svc.target.opened(account).await.map_err(cloud)?;
        let reach = svc.target.shell_with(&access).await.map_err(cloud)?;
        svc.check_preferences(account, &*reach, settings).await?;
        svc.check_target(account, &*reach, settings, target).await?;
        let iam = svc.target.iam_with(&access).await.map_err(cloud)?;
        within_role_max(&settings.role, svc.role_max(&*iam, &settings.role).await?, duration)?;
        Ok(KindChecked::default())
    }

    // A shell session's role is the shell settings' (`settings`).
    fn role_from_settings(&self) -> bool {
        true
    }

    async fn grant(
        &self,
        svc: &SessionService,
        account: &Account,
        session: &Session,
        checked: &Checked,
        secret: Option<Secret>,
        _link: bool,
    ) -> Result<Granted, (String, CloudError)> {
        let settings = checked.shell.as_ref().expect("checked");
        let target = session.target.as_ref().expect("checked");
        let role = session.role.as_ref().expect("checked");
        let partition = role.as_str().split(':').nth(1).unwrap_or("aws");
        let region = &account.default_region;
        let policy = shell_session_policy(
            partition,
            region,
            &account.aws_account_id,
            target,
            &session.id,
            settings.recording.kms_key_id.as_deref(),
        );
        let run_as = settings.run_as_for(&session.user).map(|u| u.as_str().to_string());
        let mut tags = Vec::new();
        if let Some(user) = &run_as {
            tags.push((RUN_AS_TAG.to_string(), user.clone()));
        }
        let credentials = svc
            .assume_as_user(account, session, checked, secret, policy, tags)
            .await?;
        Ok(Granted::Shell {
            credentials,
            connect: Box::new(ShellConnect {
                target: target.to_string(),
                region: region.to_string(),
                document_name: PREFERENCES_DOCUMENT.to_string(),
                run_as,
                command: format!(
                    "aws ssm start-session --target {target} --document-name {PREFERENCES_DOCUMENT} --region {region}"
                ),
            }),
        })
    }

    // Its Session Manager sessions and their settings would need checking again too.
    fn extendable(&self) -> Result<(), ExtendError> {
        Err(refuse_extension(
            "not-extendable",
            "shell sessions cannot be extended; start a new one",
        ))
    }

    fn at_end(&self) -> SsmAtEnd {
        SsmAtEnd::Close
    }
}
