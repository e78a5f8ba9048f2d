//! Which targets a caller could open a shell session on in an account: the candidates the
//! shell settings' selector names (listed ids, and the instances carrying its tags), each put
//! through the very check a start makes, so that "reachable" here means a start would pass the
//! target check now (and, when not, the start's own refusal says why).

use super::checks::cloud;
use super::{SessionService, StartError, refused};
use crate::auth::{Principal, Role};
use crate::authz::{self, Action, SessionKind, Target};
use crate::domain::AccountId;
use crate::domain::shell::ShellTarget;

/// The most candidates one listing checks: each costs a few EC2 and SSM reads.
pub const SHELL_TARGETS_MAX: usize = 50;
/// Candidates checked at once.
const TARGETS_AT_ONCE: usize = 8;

/// One candidate target, as a start would find it now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ShellTargetView {
    pub instance_id: String,
    /// The instance's `Name` tag.
    pub name: Option<String>,
    /// EC2's state (`running`, `stopped`, ...); `None` for a managed node or an instance gone.
    pub state: Option<String>,
    pub reachable: bool,
    /// The start's refusal (`target-not-running`, ...), or `unchecked` when AWS did not answer.
    pub problem: Option<String>,
    pub reason: Option<String>,
}

/// The account's targets, and whether the listing stopped at `SHELL_TARGETS_MAX`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ShellTargets {
    pub region: String,
    pub targets: Vec<ShellTargetView>,
    pub truncated: bool,
}

impl SessionService {
    /// Who may start a shell session on the account (or an admin) sees its targets; an account
    /// without shell settings enabled is refused as a start is (`shell-disabled`).
    pub async fn shell_targets(
        &self,
        principal: &Principal,
        account_id: &AccountId,
    ) -> Result<ShellTargets, StartError> {
        let action = Action::StartSession(SessionKind::Shell);
        let user = authz::acting_user(principal, None, action)
            .map_err(|d| StartError::Denied(d.0))?
            .ok_or_else(|| StartError::Denied("the token carries no e-mail".into()))?;
        let gathered = self.gather(&user, account_id, false).await?;
        // Admins manage the settings, so they see what those reach; anyone else needs the
        // permission a start needs, decided before the account is looked at.
        if principal.role != Role::Admin {
            let target = Target {
                account: Some(account_id),
                owner: None,
                approvers: None,
            };
            authz::decide(principal, action, Some(&user), target, &gathered.groups)
                .map_err(|d| StartError::Denied(d.0))?;
        }
        let account = gathered
            .account
            .ok_or_else(|| StartError::AccountNotFound(account_id.clone()))?;
        let settings = gathered.shell.filter(|s| s.enabled).ok_or_else(|| {
            refused(
                "shell-disabled",
                format!("shell sessions are not enabled on account {account_id}"),
            )
        })?;
        let access = self.target.opened(&account).await.map_err(cloud)?;
        let reach = self.target.shell_with(&access).await.map_err(cloud)?;
        let mut candidates: Vec<(ShellTarget, Option<crate::ports::Ec2Instance>)> =
            settings.targets.ids.iter().map(|id| (id.clone(), None)).collect();
        if !settings.targets.tags.is_empty() {
            let tagged = reach
                .instances_tagged(&settings.targets.tags, SHELL_TARGETS_MAX + 1)
                .await
                .map_err(|e| cloud(("list the instances the selector's tags name".into(), e)))?;
            for (id, instance) in tagged {
                match candidates.iter_mut().find(|(c, _)| *c == id) {
                    Some(listed) => listed.1 = Some(instance),
                    None => candidates.push((id, Some(instance))),
                }
            }
        }
        let truncated = candidates.len() > SHELL_TARGETS_MAX;
        candidates.truncate(SHELL_TARGETS_MAX);
        // A few targets at a time: each check is a few EC2 and SSM reads, and a page waits on
        // all of them. Collected first, as a stream over a lazy `map` is not provably `Send`.
        let checks: Vec<_> = candidates
            .into_iter()
            .map(|(id, described)| self.view_of(&account, &*reach, &settings, id, described))
            .collect();
        use futures::StreamExt;
        let targets = futures::stream::iter(checks)
            .buffered(TARGETS_AT_ONCE)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ShellTargets {
            region: account.default_region.to_string(),
            targets,
            truncated,
        })
    }
    /// One candidate as a start's target check finds it now.
    async fn view_of(
        &self,
        account: &crate::domain::Account,
        reach: &dyn crate::ports::TargetShell,
        settings: &crate::domain::shell::ShellSettings,
        id: ShellTarget,
        described: Option<crate::ports::Ec2Instance>,
    ) -> Result<ShellTargetView, StartError> {
        // Listed ids the tag query did not return are described here.
        let instance = match described {
            Some(i) => Some(i),
            None if id.is_managed_node() => None,
            None => reach.instance(&id).await.ok().flatten(),
        };
        let (problem, reason) = match self.check_target(account, reach, settings, &id).await {
            Ok(()) => (None, None),
            Err(StartError::Refused { slug, detail }) => (Some(slug.to_string()), Some(detail)),
            Err(StartError::Cloud { step, error }) => {
                // AWS's own text stays in the log, as the API's 503s keep it (http::errors).
                tracing::warn!(target_id = %id, step = %step, error = %error, "a shell target could not be checked");
                (
                    Some("unchecked".to_string()),
                    Some(format!("AWS did not answer to {step}; try again")),
                )
            }
            Err(other) => return Err(other),
        };
        Ok(ShellTargetView {
            instance_id: id.to_string(),
            name: instance.as_ref().and_then(|i| i.tags.get("Name").cloned()),
            state: instance.map(|i| i.state),
            reachable: problem.is_none(),
            problem,
            reason,
        })
    }
}
