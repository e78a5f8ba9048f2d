//! Starting sessions from Slack (`/jit <account> <role or permission set> <duration> <reason>`):
//! a JIT session on a role of the account (by ARN or name), or an Identity Center session on a
//! permission set (by ARN), started as the sessions API starts it for the linked user. The
//! answer says how to use it, never with a secret: a one-time console link for JIT, the access
//! portal link and the AWS CLI profile for Identity Center.

use crate::auth::Principal;
use crate::domain::identity_center::PermissionSetArn;
use crate::domain::{AccountId, Email, Invalid, RoleArn, SessionKind, parse_reason};
use crate::ports::PageRequest;
use crate::services::sessions::{Granted, StartRequest, Started};

use super::{ChatOpsError, ChatOpsService};

/// What a start names after the account: a JIT role, or an Identity Center permission set.
enum Access {
    Role(RoleArn),
    PermissionSet(PermissionSetArn),
}

impl ChatOpsService {
    pub(super) async fn start(
        &self,
        bot: &Principal,
        email: &Email,
        account: &str,
        role: &str,
        duration: i64,
        reason: &str,
    ) -> Result<String, ChatOpsError> {
        let Some(account) = self.find_account(account).await? else {
            return Ok(format!("I know no account `{account}` (use its id or its name)."));
        };
        let access = match PermissionSetArn::parse(role) {
            Ok(set) => Access::PermissionSet(set),
            Err(_) => match self.jit_role(&account, role).await {
                Ok(role) => Access::Role(role),
                Err(answer) => return Ok(answer),
            },
        };
        let reason = match parse_reason(reason) {
            Ok(r) => r,
            Err(Invalid(errors)) => {
                return Ok(format!(
                    "The reason {}.",
                    errors.first().map(|e| e.message.as_str()).unwrap_or("is invalid")
                ));
            }
        };
        let (kind, role, permission_set) = match &access {
            Access::Role(r) => (SessionKind::Jit, Some(r.clone()), None),
            Access::PermissionSet(p) => (SessionKind::IdentityCenter, None, Some(p.clone())),
        };
        let request = StartRequest {
            account,
            kind,
            role,
            target: None,
            permission_set,
            duration_seconds: duration,
            reason,
            on_behalf_of: Some(email.clone()),
            break_glass: false,
        };
        Ok(match self.sessions.start(bot, request).await {
            Ok(Started::Pending(session)) => format!(
                "Session `{}` needs approval: the approvers have been asked. \
                 Once it is approved, get it with `cib sessions show {}` (it is handed over once).",
                session.id, session.id
            ),
            Ok(Started::Now(session, Granted::Jit { console_url, .. } | Granted::JitLink { console_url })) => {
                let name = match &access {
                    Access::Role(r) => r.name().to_string(),
                    Access::PermissionSet(p) => p.to_string(),
                };
                format!(
                    "Started JIT session `{}` as *{name}* in {} until {} UTC.\n<{console_url}|Open the AWS console> (the link works once, for 15 minutes). \
                     For CLI credentials use `cib credential-process`.",
                    session.id,
                    session.aws_account_id,
                    session.expires_at.time()
                )
            }
            Ok(Started::Now(session, Granted::IdentityCenter(using))) => {
                let mut answer = format!(
                    "Started Identity Center session `{}` with the permission set *{}* in {} until {} UTC.\n\
                     <{}|Open it in the access portal>. For the AWS CLI, add to `~/.aws/config` and run `aws sso login`:\n```{}```",
                    session.id,
                    using.permission_set_name,
                    session.aws_account_id,
                    session.expires_at.time(),
                    using.portal_url,
                    using.cli_profile.trim_end()
                );
                if let Some(outside) = &using.outside {
                    // It names the identity-store user, whose name Slack must not read as markup.
                    answer.push_str(&format!("\nNote: {}", super::notify::inert(outside)));
                }
                answer
            }
            Ok(Started::Now(session, Granted::Console { .. } | Granted::Shell { .. })) => {
                format!("Started session `{}`.", session.id)
            }
            Err(e) => format!("I could not start the session: {e}"),
        })
    }

    /// `role` (an ARN or a name) as one of the account's JIT roles; otherwise the answer that
    /// says which roles there are.
    async fn jit_role(&self, account: &AccountId, role: &str) -> Result<RoleArn, String> {
        let jit = self
            .accounts
            .jit_settings(account)
            .await
            .map_err(|e| format!("Could not read the account's settings: {e}"))?;
        RoleArn::parse(role)
            .ok()
            .or_else(|| {
                jit.allowed_roles
                    .iter()
                    .find(|r| r.name().eq_ignore_ascii_case(role))
                    .cloned()
            })
            .ok_or_else(|| {
                let names: Vec<&str> = jit.allowed_roles.iter().map(|r| r.name()).collect();
                format!(
                    "`{role}` is not a JIT role of this account (nor a permission set ARN). Allowed roles: {}",
                    if names.is_empty() {
                        "none".into()
                    } else {
                        names.join(", ")
                    }
                )
            })
    }

    /// An account by id, or by name (case-insensitive).
    async fn find_account(&self, wanted: &str) -> Result<Option<AccountId>, ChatOpsError> {
        if let Ok(id) = AccountId::parse(wanted) {
            return Ok(Some(id));
        }
        let mut page = PageRequest {
            limit: 100,
            cursor: None,
        };
        loop {
            let p = self
                .accounts
                .list(&page)
                .await
                .map_err(|e| ChatOpsError::Unavailable(e.to_string()))?;
            if let Some(a) = p.items.iter().find(|a| a.name.as_str().eq_ignore_ascii_case(wanted)) {
                return Ok(Some(a.id.clone()));
            }
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(None),
            }
        }
    }
}
