//! Authorization: one decision for every route. Deny by default; admins manage; a user acts
//! only for themselves and needs a group permission covering the account; a bot acts only on
//! session endpoints, only on behalf of a named user its allow-list covers, only where that
//! user could act, and never starts a console (password) session; an auditor reads every
//! session and evidence check, and changes nothing.

use crate::auth::{Principal, Role};
use crate::domain::{AccessGroup, AccountId, Email, GroupId, Permissions};

pub use crate::domain::SessionKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ManageAccounts,
    ManageUsers,
    ManageGroups,
    /// The accounts' evidence check and the list of accounts it is for: admins and auditors
    /// (read-only, and what an auditor is there to check).
    ReadEvidence,
    /// `GET /me`: one's own identity and permissions.
    ViewSelf,
    StartSession(SessionKind),
    ViewSession,
    EndSession,
    /// Approve or deny a request, or review a break-glass session: members of its approver
    /// groups (admins, where a break-glass session names none), never its own user.
    DecideRequest,
    /// Withdraw one's own pending request.
    CancelRequest,
    /// Extend one's own session.
    ExtendSession,
    /// Confirm a Slack link that names oneself (`target.owner`, the link's e-mail): only the
    /// person it names makes it act, signed in as that e-mail; never a bot.
    ConfirmChatLink,
}

impl Action {
    fn is_session(self) -> bool {
        matches!(
            self,
            Action::StartSession(_)
                | Action::ViewSession
                | Action::EndSession
                | Action::DecideRequest
                | Action::CancelRequest
                | Action::ExtendSession
        )
    }
}

/// What the request is about.
#[derive(Debug, Clone, Copy, Default)]
pub struct Target<'a> {
    /// The account a session would be started on.
    pub account: Option<&'a AccountId>,
    /// The owner of the session being viewed or ended.
    pub owner: Option<&'a Email>,
    /// Who may decide the request (`DecideRequest`): these groups' members; empty, admins.
    pub approvers: Option<&'a [GroupId]>,
}

/// Who an allowed action is for, and who asked: both go into the session log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The platform user the action is for (`None` for admin management actions).
    pub user: Option<Email>,
    /// The token's subject that made the request (the bot, for chat-ops).
    pub requested_by: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

/// Whom the request acts for: the caller, or (bots only, sessions only) the named user. Call
/// this first, load that user's groups, then `decide`.
pub fn acting_user(
    principal: &Principal,
    on_behalf_of: Option<&Email>,
    action: Action,
) -> Result<Option<Email>, Denied> {
    match (principal.role, on_behalf_of) {
        (Role::Bot, Some(user)) if action.is_session() => {
            if principal.acts_for.as_ref().is_some_and(|a| a.covers(user)) {
                Ok(Some(user.clone()))
            } else {
                Err(Denied(format!("this bot is not allowed to act for {user} (BOTS)")))
            }
        }
        (Role::Bot, Some(_)) => Err(Denied(
            "bots may act on behalf of users only on session endpoints".into(),
        )),
        (Role::Bot, None) if action.is_session() => {
            Err(Denied("a bot must name the user it acts for (on_behalf_of)".into()))
        }
        (Role::Bot, None) => Err(Denied(
            "bots may only use session endpoints, on behalf of a user".into(),
        )),
        (_, Some(_)) => Err(Denied("only bots may act on behalf of another user".into())),
        // Read-only, decided here so that no session endpoint can forget it.
        (Role::Auditor, None)
            if !matches!(action, Action::ViewSelf | Action::ViewSession | Action::ConfirmChatLink) =>
        {
            Err(Denied(
                "auditors read sessions and their logs; they change nothing".into(),
            ))
        }
        (_, None) => Ok(principal.email.as_deref().and_then(|e| Email::parse(e).ok())),
    }
}

/// The union of what `groups` allow on `account`.
pub fn permissions_on(groups: &[AccessGroup], account: &AccountId) -> Permissions {
    groups
        .iter()
        .filter(|g| g.accounts.covers(account))
        .fold(Permissions::default(), |acc, g| acc.union(g.permissions))
}

/// Decides whether `principal` may do `action`. `user` is what `acting_user` returned and
/// `groups` are that user's access groups.
pub fn decide(
    principal: &Principal,
    action: Action,
    user: Option<&Email>,
    target: Target<'_>,
    groups: &[AccessGroup],
) -> Result<Actor, Denied> {
    let actor = |user: Option<&Email>| Actor {
        user: user.cloned(),
        requested_by: principal.subject.clone(),
        role: principal.role,
    };
    match action {
        Action::ReadEvidence => match principal.role {
            Role::Admin | Role::Auditor => Ok(actor(None)),
            _ => Err(Denied("this requires the admin or the auditor role".into())),
        },
        Action::ManageAccounts | Action::ManageUsers | Action::ManageGroups => {
            if principal.role == Role::Admin {
                Ok(actor(None))
            } else {
                Err(Denied("this requires the admin role".into()))
            }
        }
        Action::ViewSelf => match (principal.role, user) {
            (Role::Bot, _) => Err(Denied("bots have no platform identity of their own".into())),
            (_, Some(u)) => Ok(actor(Some(u))),
            (_, None) => Err(Denied("the token carries no e-mail".into())),
        },
        Action::StartSession(kind) => {
            // What some kinds hand out (a password, say) a bot could only relay in chat.
            if principal.role == Role::Bot
                && let Some(why) = kind.facts().refused_to_bots()
            {
                return Err(Denied(why.into()));
            }
            let user = user.ok_or_else(|| Denied("sessions are started for a platform user with an e-mail".into()))?;
            let account = target.account.ok_or_else(|| Denied("no account given".into()))?;
            let p = permissions_on(groups, account);
            if p.allows(kind) {
                Ok(actor(Some(user)))
            } else {
                let what = kind.facts().permission();
                Err(Denied(format!(
                    "{user} is in no access group that may {what} on account {account}"
                )))
            }
        }
        Action::DecideRequest => {
            let user = user.ok_or_else(|| Denied("deciding a request needs a platform identity".into()))?;
            // One bot acting for several people could be every approver of an N-of-M request:
            // a bot relays the decisions of exactly one person (the Slack member's link).
            if principal.role == Role::Bot && !principal.acts_for.as_ref().is_some_and(|a| a.is_one_user()) {
                return Err(Denied(
                    "approvals, denials and reviews are one person's: a bot relays them only for the one user it acts for (Slack)".into(),
                ));
            }
            if target.owner == Some(user) {
                return Err(Denied("nobody approves, denies or reviews their own request".into()));
            }
            let approvers = target.approvers.unwrap_or_default();
            let allowed = if approvers.is_empty() {
                principal.role == Role::Admin
            } else {
                groups.iter().any(|g| approvers.contains(&g.id))
            };
            if allowed {
                Ok(actor(Some(user)))
            } else {
                Err(Denied(format!("{user} is in none of this request's approver groups")))
            }
        }
        Action::ConfirmChatLink => match (principal.role, user, target.owner) {
            (Role::Bot, _, _) => Err(Denied(
                "bots cannot confirm a Slack link: the person it names does, signed in".into(),
            )),
            (_, None, _) => Err(Denied("the token carries no e-mail".into())),
            (_, Some(u), Some(owner)) if u == owner => Ok(actor(Some(u))),
            _ => Err(Denied(
                "only the platform user a Slack link names confirms it, signed in as that user".into(),
            )),
        },
        Action::CancelRequest | Action::ExtendSession => match (user, target.owner) {
            (Some(u), Some(owner)) if u == owner => Ok(actor(Some(u))),
            _ => Err(Denied("only the session's own user may do this".into())),
        },
        Action::ViewSession | Action::EndSession => {
            if principal.role == Role::Admin && user.is_none_or(|u| Some(u) != target.owner) {
                return Ok(actor(user));
            }
            if principal.role == Role::Auditor && action == Action::ViewSession {
                return Ok(actor(user));
            }
            match (user, target.owner) {
                (Some(u), Some(owner)) if u == owner => Ok(actor(Some(u))),
                (_, None) => Ok(actor(user)),
                _ => Err(Denied("this session belongs to another user".into())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccountScope, GroupId, GroupName};

    fn principal(role: Role, email: Option<&str>) -> Principal {
        Principal {
            issuer: "test".into(),
            subject: email.unwrap_or("bot:chat").into(),
            email: email.map(str::to_string),
            role,
            acts_for: (role == Role::Bot)
                .then(|| {
                    crate::auth::Bots::parse(r#"[{"subject":"bot:chat","acts_for":["alice@example.com"]}]"#).unwrap()
                })
                .and_then(|b| b.get("bot:chat").cloned()),
        }
    }

    fn group(scope: AccountScope, start_sessions: bool, start_jit_sessions: bool) -> AccessGroup {
        let now = time::OffsetDateTime::now_utc();
        AccessGroup {
            id: GroupId::generate(),
            name: GroupName::parse("g").unwrap(),
            description: String::new(),
            accounts: scope,
            permissions: Permissions {
                start_sessions,
                start_jit_sessions,
                start_shell_sessions: false,
                start_identity_center_sessions: false,
            },
            policy: Default::default(),
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    #[test]
    fn matrix() {
        let a1 = AccountId::generate();
        let a2 = AccountId::generate();
        let alice = Email::parse("alice@example.com").unwrap();
        let bob = Email::parse("bob@example.com").unwrap();
        let admin = principal(Role::Admin, Some("root@example.com"));
        let user = principal(Role::User, Some("alice@example.com"));
        let bot = principal(Role::Bot, None);
        let jit_on_a1 = vec![group(AccountScope::Only(vec![a1.clone()]), false, true)];
        let start = |p: &Principal, who: Option<&Email>, kind, acct: &AccountId, groups: &[AccessGroup]| {
            let user = acting_user(p, who, Action::StartSession(kind))?;
            decide(
                p,
                Action::StartSession(kind),
                user.as_ref(),
                Target {
                    account: Some(acct),
                    owner: None,
                    approvers: None,
                },
                groups,
            )
        };

        // Management: admins only.
        for action in [Action::ManageAccounts, Action::ManageUsers, Action::ManageGroups] {
            assert!(decide(&admin, action, None, Target::default(), &[]).is_ok());
            assert!(decide(&user, action, Some(&alice), Target::default(), &[]).is_err());
            assert!(acting_user(&bot, Some(&alice), action).is_err());
        }
        // Sessions need a covering grant of the right kind, even for admins.
        assert!(start(&user, None, SessionKind::Jit, &a1, &jit_on_a1).is_ok());
        assert!(start(&user, None, SessionKind::Jit, &a2, &jit_on_a1).is_err());
        assert!(start(&user, None, SessionKind::Console, &a1, &jit_on_a1).is_err());
        assert!(start(&admin, None, SessionKind::Jit, &a1, &[]).is_err());
        let all = vec![group(AccountScope::All, true, false)];
        assert!(start(&user, None, SessionKind::Console, &a2, &all).is_ok());
        // Only bots act for others, and only on session endpoints.
        assert!(acting_user(&user, Some(&bob), Action::StartSession(SessionKind::Jit)).is_err());
        assert!(acting_user(&admin, Some(&bob), Action::ViewSession).is_err());
        assert!(acting_user(&bot, None, Action::StartSession(SessionKind::Jit)).is_err());
        let for_alice = start(&bot, Some(&alice), SessionKind::Jit, &a1, &jit_on_a1).unwrap();
        assert_eq!(
            (for_alice.user.as_ref(), for_alice.requested_by.as_str()),
            (Some(&alice), "bot:chat")
        );
        // ...only for the users it is allowed to act for, and never with a password.
        assert!(start(&bot, Some(&bob), SessionKind::Jit, &a1, &jit_on_a1).is_err());
        let console_on_a1 = vec![group(AccountScope::Only(vec![a1.clone()]), true, true)];
        assert!(start(&bot, Some(&alice), SessionKind::Console, &a1, &console_on_a1).is_err());
        assert!(start(&user, None, SessionKind::Console, &a1, &console_on_a1).is_ok());
        // Shell sessions need their own permission, and bots may not start them.
        assert!(start(&user, None, SessionKind::Shell, &a1, &console_on_a1).is_err());
        let mut shell_on_a1 = console_on_a1.clone();
        shell_on_a1[0].permissions.start_shell_sessions = true;
        assert!(start(&user, None, SessionKind::Shell, &a1, &shell_on_a1).is_ok());
        assert!(start(&user, None, SessionKind::Shell, &a2, &shell_on_a1).is_err());
        assert!(start(&bot, Some(&alice), SessionKind::Shell, &a1, &shell_on_a1).is_err());
        // Viewing and ending: owners, and admins.
        let own = Target {
            account: None,
            owner: Some(&alice),
            approvers: None,
        };
        assert!(decide(&user, Action::EndSession, Some(&alice), own, &[]).is_ok());
        assert!(decide(&user, Action::EndSession, Some(&bob), own, &[]).is_err());
        assert!(decide(&admin, Action::EndSession, Some(&bob), own, &[]).is_ok());
        assert!(decide(&bot, Action::ViewSession, Some(&alice), own, &[]).is_ok());
        assert!(decide(&bot, Action::ViewSession, Some(&bob), own, &[]).is_err());
        // Auditors read anyone's session and do nothing else, whatever their groups allow.
        let auditor = principal(Role::Auditor, Some("audit@example.com"));
        let carol = Email::parse("audit@example.com").unwrap();
        assert!(decide(&auditor, Action::ViewSession, Some(&carol), own, &[]).is_ok());
        for action in [
            Action::EndSession,
            Action::StartSession(SessionKind::Jit),
            Action::DecideRequest,
            Action::CancelRequest,
            Action::ExtendSession,
        ] {
            assert!(acting_user(&auditor, None, action).is_err(), "{action:?}");
        }
        assert!(acting_user(&auditor, None, Action::ViewSession).is_ok());
        assert!(decide(&auditor, Action::ManageAccounts, None, Target::default(), &[]).is_err());
        // Deciding requests: approver groups only, never one's own, and a bot only for one person.
        let approvers_group = group(AccountScope::All, false, false);
        let approvers = [approvers_group.id.clone()];
        let decide_for = |p: &Principal, who: &Email, owner: &Email, groups: &[AccessGroup]| {
            decide(
                p,
                Action::DecideRequest,
                Some(who),
                Target {
                    account: None,
                    owner: Some(owner),
                    approvers: Some(&approvers),
                },
                groups,
            )
        };
        let member = std::slice::from_ref(&approvers_group);
        assert!(decide_for(&user, &alice, &bob, member).is_ok());
        assert!(decide_for(&user, &alice, &alice, member).is_err(), "not one's own");
        assert!(decide_for(&user, &alice, &bob, &[]).is_err(), "not outside the groups");
        assert!(
            decide_for(&admin, &alice, &bob, &[]).is_err(),
            "admins are not approvers as such"
        );
        assert!(decide_for(&bot, &alice, &bob, member).is_ok(), "a bot for one person");
        let mut wide = bot.clone();
        wide.acts_for = crate::auth::Bots::parse(r#"[{"subject":"bot:chat","acts_for":["*@example.com"]}]"#)
            .unwrap()
            .get("bot:chat")
            .cloned();
        assert!(decide_for(&wide, &alice, &bob, member).is_err(), "not a bot for many");
        // Self: anyone with an e-mail but bots.
        assert!(decide(&user, Action::ViewSelf, Some(&alice), Target::default(), &[]).is_ok());
        assert!(acting_user(&bot, None, Action::ViewSelf).is_err());
        // A Slack link is confirmed by the person it names only (an auditor too), never by an
        // admin for someone else, nor by a bot.
        let alices_link = Target {
            account: None,
            owner: Some(&alice),
            approvers: None,
        };
        assert!(decide(&user, Action::ConfirmChatLink, Some(&alice), alices_link, &[]).is_ok());
        let root = Email::parse("root@example.com").unwrap();
        assert!(decide(&admin, Action::ConfirmChatLink, Some(&root), alices_link, &[]).is_err());
        assert!(acting_user(&auditor, None, Action::ConfirmChatLink).is_ok());
        assert!(decide(&auditor, Action::ConfirmChatLink, Some(&carol), alices_link, &[]).is_err());
        assert!(acting_user(&bot, None, Action::ConfirmChatLink).is_err());
        assert!(decide(&bot, Action::ConfirmChatLink, Some(&alice), alices_link, &[]).is_err());
    }
}
