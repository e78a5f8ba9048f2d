//! Identity Center sessions: a permission set on an account, assigned through IAM Identity
//! Center to the user's identity-store user for the duration. This room owns their checks
//! (the organization's Identity Center, the user in its store, the permission set, access the
//! user already has outside the broker), their grant (the account assignment, waited for until
//! provisioned; the answer is how to use it through the access portal, never a credential),
//! and their revocation: the assignment deleted, so that the portal hands out nothing new,
//! then a deny in the permission set for what it already handed out
//! (`domain::identity_center::revocation`), provisioned to the account and read back from the
//! role there (unless the role went with the last assignment). A second live
//! grant of the same access (user, account, permission set) keeps it: only access no live
//! grant still covers is ended.

mod access;
mod ending;

use std::collections::BTreeMap;

use async_trait::async_trait;
use time::OffsetDateTime;

use self::access::{cloud_err, outside_access, requested, settled};
use self::ending::end_access;
use super::{Kind, KindChecked, Start};
use crate::domain::identity_center::IcAccess;
use crate::domain::revocation::Cut;
use crate::domain::{Account, RoleArn, Secret, Session, SessionStatus};
use crate::ports::{CloudError, Operation, TargetIam};
use crate::services::sessions::{Checked, Granted, IcUse, SessionService, StartError, refused};

pub(super) struct IdentityCenter;

#[async_trait]
impl Kind for IdentityCenter {
    async fn check(&self, svc: &SessionService, start: &Start<'_>) -> Result<KindChecked, StartError> {
        let Start { account, req, user, .. } = *start;
        if req.role.is_some() || req.target.is_some() {
            return Err(refused(
                "permission-set-not-allowed",
                "Identity Center sessions name a permission_set_arn; omit role_arn and target",
            ));
        }
        let set = req.permission_set.as_ref().ok_or_else(|| {
            refused(
                "permission-set-not-allowed",
                "permission_set_arn is required for Identity Center sessions",
            )
        })?;
        let Some((settings, admin)) = svc
            .identity_center_of(account)
            .await
            .map_err(|(step, error)| StartError::Cloud { step, error })?
        else {
            return Err(refused(
                "identity-center-not-set-up",
                format!(
                    "account {} is in no organization whose IAM Identity Center the broker reaches (PUT /organizations/{{id}}/identity-center)",
                    account.id
                ),
            ));
        };
        if !set.of(&settings.instance_arn) {
            return Err(refused(
                "permission-set-not-allowed",
                format!("{set} is not a permission set of {}", settings.instance_arn),
            ));
        }
        let cloud = |step: &str| {
            let step = step.to_string();
            move |error| StartError::Cloud {
                step: step.clone(),
                error,
            }
        };
        let found = admin
            .find_user(&settings.identity_store_id, settings.user_attribute, user.as_str())
            .await
            .map_err(cloud("find the user in the identity store"))?
            .ok_or_else(|| {
                refused(
                    "identity-center-user-not-found",
                    format!(
                        "the identity store has no user whose {} is {user}",
                        settings.user_attribute.path()
                    ),
                )
            })?;
        let info = match admin.permission_set(&settings.instance_arn, set).await {
            Ok(info) => info,
            Err(CloudError::NotFound(_)) => {
                return Err(refused("permission-set-not-allowed", format!("{set} does not exist")));
            }
            Err(e) => return Err(cloud("read the permission set")(e)),
        };
        let mut ic = IcAccess {
            permission_set: set.clone(),
            permission_set_name: info.name,
            permission_set_seconds: info.session_seconds,
            user_id: found.user_id,
            user_name: found.user_name,
            outside: None,
        };
        let probe = Session::probe(account, user, &ic);
        // An assignment a session of the broker's still holds (live, or still ending) is the
        // broker's, not access from outside it.
        let own_live = !svc
            .same_access(&probe, &[SessionStatus::Active, SessionStatus::Ending])
            .await
            .map_err(StartError::Unavailable)?
            .is_empty();
        ic.outside = outside_access(&*admin, &settings, account, &ic, own_live)
            .await
            .map_err(cloud("read the account's assignments"))?;
        Ok(KindChecked {
            identity_center: Some(ic),
        })
    }

    async fn grant(
        &self,
        svc: &SessionService,
        account: &Account,
        session: &Session,
        _checked: &Checked,
        _secret: Option<Secret>,
        _link: bool,
    ) -> Result<Granted, (String, CloudError)> {
        let ic = session.identity_center.as_ref().ok_or_else(|| {
            (
                "assign the permission set".to_string(),
                CloudError::Unavailable("no access recorded".into()),
            )
        })?;
        let (settings, admin) = svc.identity_center_of(account).await?.ok_or_else(|| {
            (
                "reach IAM Identity Center".to_string(),
                CloudError::Unavailable("the organization's Identity Center is no longer set up".into()),
            )
        })?;
        if ic.outside.is_none() {
            // Made even when another live grant made it already: creating an existing
            // assignment is answered as a success, and this one then holds it too.
            let step = "assign the permission set";
            let id = requested(|| {
                admin.create_assignment(
                    &settings.instance_arn,
                    &account.aws_account_id,
                    &ic.permission_set,
                    &ic.user_id,
                )
            })
            .await
            .map_err(cloud_err(step))?;
            settled(&*admin, &settings, Operation::AssignmentCreation, &id, step).await?;
        }
        Ok(Granted::IdentityCenter(Box::new(IcUse {
            portal_url: settings.shortcut(&account.aws_account_id, &ic.permission_set_name),
            start_url: settings.start_url.clone(),
            sso_region: settings.region.to_string(),
            permission_set_name: ic.permission_set_name.clone(),
            cli_profile: settings.cli_profile(
                &account.aws_account_id,
                &ic.permission_set_name,
                &account.default_region,
            ),
            outside: ic.outside.clone(),
        })))
    }

    // The end that won took back what was assigned by then; an assignment this start made
    // after it is taken back here.
    async fn after_lost_start(&self, svc: &SessionService, account: &Account, session: &Session) {
        if let Err(e) = end_access(svc, account, session, svc.clock.now(), None).await {
            tracing::warn!(session = %session.id, error = %e, "taking back a lost start's assignment failed");
        }
    }

    async fn revoke(
        &self,
        svc: &SessionService,
        session: &Session,
        iam: &dyn TargetIam,
        now: OffsetDateTime,
        _allowed_now: &mut BTreeMap<String, Vec<RoleArn>>,
    ) -> Result<Vec<(RoleArn, Cut)>, String> {
        let account = svc
            .accounts
            .get(&session.account_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("account {} is gone", session.account_id))?;
        end_access(svc, &account, session, now, Some(iam)).await?;
        Ok(Vec::new())
    }
}
