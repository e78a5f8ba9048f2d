//! Chat-ops: a Slack member, linked to a platform user by an admin and the link confirmed by
//! that user, runs `/jit` commands that act exactly as the sessions API does for that user, with
//! the bot recorded as the actor. A link no one confirmed yet resolves to no one.
//! Replies are text for the channel (ephemeral): never a secret key. Commands are acknowledged
//! at once by the `chatops` function and finished here (`finish`) by the worker, which posts the
//! answer to the command's `response_url`. Starting a session from Slack is `start`'s;
//! approval messages are `notify`'s; the jobs queue's signatures are `jobs`'.

mod jobs;
mod notify;
mod start;

pub use notify::{NOTIFIED_DETAIL_TYPES, approval_blocks};

use std::sync::Arc;

use serde_json::json;

use crate::auth::Principal;
use crate::authz::{self, Action, Target};
use crate::domain::{
    Email, LinkStatus, Outcome, SessionId, SessionKind, SessionStatus, SlackJob, SlackLink, SlackUserId, SlashCommand,
    USAGE, parse_reason, parse_slash_command,
};
use crate::ports::{ChatLinkStore, ChatResponder, Clock, Page, PageRequest, ReplayGuard, SessionFilter, StoreError};
use crate::services::accounts::AccountService;
use crate::services::sessions::SessionService;

#[derive(Debug, thiserror::Error)]
pub enum ChatOpsError {
    #[error("{0}")]
    Unavailable(String),
    #[error("the cursor is not one this API returned")]
    BadCursor,
    #[error("{0} is not linked")]
    NotLinked(SlackUserId),
    /// The caller may not confirm this link (not the person it names, or no person at all).
    #[error("{0}")]
    Forbidden(String),
    /// The link was removed or re-linked to someone else while it was being confirmed.
    #[error("the link changed while it was being confirmed; read it again")]
    Changed,
}

impl From<StoreError> for ChatOpsError {
    fn from(e: StoreError) -> Self {
        ChatOpsError::Unavailable(e.to_string())
    }
}

/// Who made a change, for the log and the bus: the caller's e-mail, or their token's subject.
fn who(p: &Principal) -> String {
    p.email.clone().unwrap_or_else(|| p.subject.clone())
}

#[derive(Clone)]
pub struct ChatOpsService {
    links: Arc<dyn ChatLinkStore>,
    accounts: AccountService,
    sessions: SessionService,
    responder: Arc<dyn ChatResponder>,
    /// Runs each job once, whatever the queue redelivers.
    once: Arc<dyn ReplayGuard>,
    clock: Arc<dyn Clock>,
    /// Slack's Web API and the approval channel (the bot token from `SLACK_BOT_TOKEN_PARAMETER`,
    /// and `SLACK_APPROVAL_CHANNEL`): approval messages are off without them.
    notifier: Option<Arc<dyn crate::ports::ChatNotifier>>,
    approval_channel: Option<String>,
    /// Slack's signing secret, which keys the jobs' signatures (`SlackJob::signed_by`): without
    /// it no job runs.
    job_signing_secret: Option<crate::domain::Secret>,
}

/// How long a finished job's id is remembered (SQS redelivers within the visibility timeout,
/// and keeps a message four days at most).
const JOB_MEMORY_DAYS: i64 = 5;

impl ChatOpsService {
    pub fn new(
        links: Arc<dyn ChatLinkStore>,
        accounts: AccountService,
        sessions: SessionService,
        responder: Arc<dyn ChatResponder>,
        once: Arc<dyn ReplayGuard>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        ChatOpsService {
            links,
            accounts,
            sessions,
            responder,
            once,
            clock,
            notifier: None,
            approval_channel: None,
            job_signing_secret: None,
        }
    }

    /// Runs only the jobs signed with the key derived from `signing_secret` (Slack's signing
    /// secret, which the chatops function signs with): a message put on the jobs queue by anyone
    /// else acts for no one. `None`: no job runs.
    pub fn with_job_signatures(mut self, signing_secret: Option<crate::domain::Secret>) -> Self {
        self.job_signing_secret = signing_secret;
        self
    }

    /// Approval messages through Slack's Web API when the bot token and channel are configured.
    pub fn with_approvals_from(self, slack: &crate::config::SlackConfig) -> Self {
        match (&slack.bot_token, &slack.approval_channel) {
            (Some(token), Some(channel)) => self.with_approvals(
                Arc::new(crate::adapters::slack::SlackApi::new(&slack.api_base, token.clone())),
                channel.clone(),
            ),
            _ => self,
        }
    }

    /// Posts approval messages to `channel` through `notifier`.
    pub fn with_approvals(mut self, notifier: Arc<dyn crate::ports::ChatNotifier>, channel: String) -> Self {
        self.notifier = Some(notifier);
        self.approval_channel = Some(channel);
        self
    }

    /// Finishes an acknowledged command: runs it (once per job, whatever the queue redelivers)
    /// and posts the answer to its `response_url`. `Err` only when the job should be retried
    /// (it did not run).
    ///
    /// First of all, the job's signature: one the chatops function did not make (none, another,
    /// or a field changed since) is dropped, logged with `alarm = "chatops-forged"`, and not
    /// retried; nothing of it runs, nothing is answered, and its id is not spent (a forged job
    /// carrying a real job's id cannot stop that job). Then its signed issue time: a job issued
    /// more than an hour ago (a replay, or one held back that long) or dated more than five
    /// minutes ahead is dropped the same way, logged with `alarm = "chatops-stale"`.
    pub async fn finish(&self, job: &SlackJob) -> Result<(), ChatOpsError> {
        if !self
            .job_signing_secret
            .as_ref()
            .is_some_and(|secret| job.signed_by(secret))
        {
            tracing::error!(
                job = job.id,
                slack_user_id = job.user_id,
                signed = !job.signature.is_empty(),
                alarm = "chatops-forged",
                "a Slack job without the chatops function's signature was dropped"
            );
            return Ok(());
        }
        let now = self.clock.now();
        if let Some(why) = jobs::out_of_date(job, now) {
            tracing::error!(
                job = job.id,
                slack_user_id = job.user_id,
                issued_at = job.issued_at,
                why,
                alarm = "chatops-stale",
                "a signed Slack job out of date was dropped"
            );
            return Ok(());
        }
        let until = now + time::Duration::days(JOB_MEMORY_DAYS);
        if !self.once.first_use(&format!("job:{}", job.id), until).await? {
            tracing::info!(job = job.id, "a redelivered Slack job was skipped");
            return Ok(());
        }
        let answer = match SlackUserId::parse(&job.user_id) {
            Ok(user) => self.run(&user, &job.text).await.unwrap_or_else(|e| {
                tracing::error!(cause = %e, "chat-ops failed");
                "Sorry, something failed on our side; try again in a minute.".into()
            }),
            Err(_) => "Slack sent no user id; nothing to do.".into(),
        };
        // The command ran: a failed post is reported, not retried (that would run it again).
        if let Err(e) = self.responder.respond(&job.response_url, &answer).await {
            tracing::error!(job = job.id, error = %e, "answering a Slack command failed");
        }
        Ok(())
    }

    /// An admin links a Slack member to a platform user. The link is stored `pending`: it acts
    /// only once the person it names confirms it (`confirm`, or `/jit confirm` from Slack), so
    /// no admin, and no mistyped member id, makes a Slack member act as someone. Linking a
    /// member again to the e-mail its confirmed link already names changes nothing.
    pub async fn link(&self, slack: &SlackUserId, email: &Email, admin: &Principal) -> Result<SlackLink, ChatOpsError> {
        let by = who(admin);
        if let Some(existing) = self.links.link_of(slack).await?
            && existing.acts()
            && existing.email == *email
        {
            tracing::info!(slack_user_id = %slack, email = %email, by, "Slack link unchanged (already confirmed)");
            return Ok(existing);
        }
        let link = SlackLink::pending(slack.clone(), email.clone(), by.clone(), self.clock.now());
        self.links.link(&link).await?;
        tracing::info!(
            slack_user_id = %slack,
            email = %email,
            by,
            "Slack member linked; the link acts once the linked user confirms it"
        );
        self.announce("slack_linked", &link, &by, None).await;
        Ok(link)
    }

    pub async fn unlink(&self, slack: &SlackUserId) -> Result<bool, ChatOpsError> {
        Ok(self.links.unlink(slack).await?)
    }

    pub async fn links(&self, page: &PageRequest) -> Result<Page<SlackLink>, ChatOpsError> {
        self.links.links(page).await?.ok_or(ChatOpsError::BadCursor)
    }

    /// The person a link names confirms it, signed in as that e-mail (a user's, an auditor's or
    /// an admin's token; never a bot's). Confirming a confirmed link again changes nothing.
    pub async fn confirm(&self, slack: &SlackUserId, caller: &Principal) -> Result<SlackLink, ChatOpsError> {
        // Who the caller is, before anything is looked up: a bot, or a token without an
        // e-mail, confirms nothing.
        let user = authz::acting_user(caller, None, Action::ConfirmChatLink)
            .map_err(|d| ChatOpsError::Forbidden(d.0))?
            .ok_or_else(|| ChatOpsError::Forbidden("the token carries no e-mail".into()))?;
        let link = self
            .links
            .link_of(slack)
            .await?
            .ok_or_else(|| ChatOpsError::NotLinked(slack.clone()))?;
        let target = Target {
            owner: Some(&link.email),
            ..Target::default()
        };
        authz::decide(caller, Action::ConfirmChatLink, Some(&user), target, &[])
            .map_err(|d| ChatOpsError::Forbidden(d.0))?;
        if link.acts() {
            return Ok(link);
        }
        self.store_confirmation(link, user.to_string(), "api").await
    }

    /// Marks `link` confirmed by `by` (only while it still names its e-mail), then logs it and
    /// puts it on the bus.
    async fn store_confirmation(&self, link: SlackLink, by: String, via: &str) -> Result<SlackLink, ChatOpsError> {
        let confirmed = link.confirmed(by.clone(), self.clock.now());
        match self.links.confirm(&confirmed).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(ChatOpsError::Changed),
            Err(e) => return Err(e.into()),
        }
        tracing::info!(
            slack_user_id = %confirmed.slack_user_id,
            email = %confirmed.email,
            by,
            via,
            "Slack link confirmed; the member now acts as the linked user"
        );
        self.announce("slack_link_confirmed", &confirmed, &by, Some(via)).await;
        Ok(confirmed)
    }

    /// Puts a link's change on the event bus (docs/events.md). Like session events, a failed
    /// put is reported (the log line above records the change), never undone.
    async fn announce(&self, kind: &str, link: &SlackLink, by: &str, via: Option<&str>) {
        let (detail_type, at) = match kind {
            "slack_linked" => ("Slack member linked", link.linked_at),
            _ => ("Slack link confirmed", link.confirmed_at),
        };
        let at = at.unwrap_or_else(|| self.clock.now());
        let event_id = format!("slack:{}:{kind}:{}", link.slack_user_id, at.unix_timestamp_nanos());
        let mut detail = json!({
            "v": 1,
            "event_id": event_id,
            "type": kind,
            "at": at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "slack_user_id": link.slack_user_id.as_str(),
            "email": link.email.as_str(),
            "status": link.status.as_str(),
            "by": by,
        });
        if let Some(via) = via {
            detail["via"] = json!(via);
        }
        if let Err(e) = self.sessions.events.publish(detail_type, &detail).await {
            tracing::error!(
                event_id,
                error = %e,
                alarm = "events-undelivered",
                "an event could not be put on the bus; it is in the function's log"
            );
        }
    }

    /// `/jit confirm`: the member accepts a pending link, confirmed only when Slack
    /// (`users.info`) says the member's e-mail is the linked one: from Slack alone, a member
    /// proves nothing else about who they are.
    async fn confirm_from_slack(&self, slack: &SlackUserId, link: Option<SlackLink>) -> Result<String, ChatOpsError> {
        let elsewhere = format!(
            "the linked user can confirm it signed in to Cloud IAM Broker \
             (POST /chatops/slack/users/{slack}/confirmation)"
        );
        let link = match link {
            None => {
                return Ok(
                    "Your Slack account is not linked to a Cloud IAM Broker user: there is nothing to confirm. \
                     Ask an admin to link it first."
                        .into(),
                );
            }
            Some(l) if l.acts() => {
                return Ok(format!(
                    "Your Slack account's link is already confirmed: you act as {}.",
                    l.email
                ));
            }
            Some(l) => l,
        };
        let Some(slack_api) = &self.notifier else {
            return Ok(format!(
                "I cannot check your Slack e-mail here (no Slack bot token is configured): {elsewhere}."
            ));
        };
        let email = match slack_api.member_email(slack.as_str()).await {
            Ok(email) => email,
            Err(e) => {
                tracing::warn!(slack_user_id = %slack, error = %e, "reading a member's Slack e-mail failed");
                return Ok(format!("I could not read your Slack e-mail ({e}): {elsewhere}."));
            }
        };
        match email {
            Some(e) if e.trim().eq_ignore_ascii_case(link.email.as_str()) => {
                let email = link.email.clone();
                match self.store_confirmation(link, format!("slack:{slack}"), "slack").await {
                    Ok(_) => Ok(format!("Confirmed: your Slack account now acts as {email}.")),
                    Err(ChatOpsError::Changed) => {
                        Ok("The link changed while it was being confirmed; run `/jit confirm` again.".into())
                    }
                    Err(e) => Err(e),
                }
            }
            _ => {
                tracing::warn!(
                    slack_user_id = %slack,
                    email = %link.email,
                    "a Slack member's e-mail is not the one their link names: not confirmed"
                );
                Ok(format!(
                    "Your Slack e-mail is not the one this link names, so it stays unconfirmed. \
                     Ask an admin to check the link; {elsewhere}."
                ))
            }
        }
    }

    /// Runs a `/jit` command for a Slack member; returns the reply text.
    pub async fn run(&self, slack: &SlackUserId, text: &str) -> Result<String, ChatOpsError> {
        let command = match parse_slash_command(text) {
            Ok(c) => c,
            Err(why) => return Ok(format!("Sorry, {why}.\n{USAGE}")),
        };
        if command == SlashCommand::Help {
            return Ok(USAGE.to_string());
        }
        let link = self.links.link_of(slack).await?;
        if command == SlashCommand::Confirm {
            return self.confirm_from_slack(slack, link).await;
        }
        // A pending link resolves to no one: its member is answered as any unlinked member.
        let email = match link {
            Some(l) if l.acts() => l.email,
            Some(l) => {
                debug_assert_eq!(l.status, LinkStatus::Pending);
                return Ok(format!(
                    "Your Slack account is not linked to a Cloud IAM Broker user yet: an admin's link awaits \
                     confirmation by the user it names. Run `/jit confirm` (if your Slack e-mail is theirs), or \
                     they confirm it signed in to Cloud IAM Broker (POST /chatops/slack/users/{slack}/confirmation)."
                ));
            }
            None => {
                return Ok(
                    "Your Slack account is not linked to a Cloud IAM Broker user yet. Ask an admin to link it \
                       (PUT /chatops/slack/users/<your Slack id>), then confirm it."
                        .into(),
                );
            }
        };
        // The bot acts on behalf of the linked user: same checks, same logs, bot as the actor.
        let bot = Principal::bot_for(format!("slack:{slack}"), &email);
        match command {
            SlashCommand::Start {
                account,
                role,
                duration_seconds,
                reason,
            } => {
                self.start(&bot, &email, &account, &role, duration_seconds, &reason)
                    .await
            }
            SlashCommand::List => {
                let filter = SessionFilter {
                    status: Some(SessionStatus::Active),
                    ..Default::default()
                };
                let page = self
                    .sessions
                    .list(
                        &bot,
                        Some(&email),
                        filter,
                        &PageRequest {
                            limit: 20,
                            cursor: None,
                        },
                    )
                    .await;
                Ok(match page {
                    Ok(p) if p.items.is_empty() => "You have no live sessions.".into(),
                    Ok(p) => p
                        .items
                        .iter()
                        .map(|s| {
                            let what = match (&s.kind, &s.role, &s.target, &s.identity_center) {
                                (SessionKind::IdentityCenter, _, _, Some(ic)) => {
                                    format!("Identity Center {}", ic.permission_set_name)
                                }
                                (SessionKind::Shell, _, Some(target), _) => format!("shell on {target}"),
                                (SessionKind::Console, _, _, _) => "console".into(),
                                (_, Some(role), _, _) => role.name().to_string(),
                                (kind, _, _, _) => kind.as_str().to_string(),
                            };
                            format!(
                                "• `{}` {} on {} until {}",
                                s.id,
                                what,
                                s.aws_account_id,
                                s.expires_at.time()
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n"),
                    Err(e) => format!("Could not list your sessions: {e}"),
                })
            }
            SlashCommand::End { session, reason } => {
                let Ok(id) = SessionId::parse(&session) else {
                    return Ok(format!("`{session}` is not a session id."));
                };
                let reason = parse_reason(&reason).unwrap_or_else(|_| "ended from Slack".into());
                Ok(match self.sessions.end(&bot, &id, &reason, Some(&email)).await {
                    Ok(s) => format!("Session `{}` is {}.", s.id, s.status.as_str()),
                    Err(e) => format!("Could not end `{session}`: {e}"),
                })
            }
            SlashCommand::Approve { session } => {
                let Ok(id) = SessionId::parse(&session) else {
                    return Ok(format!("`{session}` is not a session id."));
                };
                Ok(
                    match self
                        .sessions
                        .approve(&bot, &id, "approved from Slack", Some(&email))
                        .await
                    {
                        Ok(s) if s.status == SessionStatus::Pending || s.pending_extension.is_some() => {
                            let r = s.request.as_ref().or(s.pending_extension.as_ref().map(|p| &p.approval));
                            format!(
                                "Your approval of `{id}` is counted ({}/{}).",
                                r.map_or(0, |r| r.approvals.len()),
                                r.map_or(0, |r| r.approvals_required)
                            )
                        }
                        Ok(s) => format!("You approved `{id}`: it is {}.", s.status.as_str()),
                        Err(e) => format!("Could not approve `{id}`: {e}"),
                    },
                )
            }
            SlashCommand::Deny { session, reason } => {
                let Ok(id) = SessionId::parse(&session) else {
                    return Ok(format!("`{session}` is not a session id."));
                };
                let reason = parse_reason(&reason).unwrap_or_else(|_| "denied from Slack".into());
                Ok(
                    match self
                        .sessions
                        .close_request(&bot, &id, Outcome::Denied, &reason, Some(&email))
                        .await
                    {
                        Ok(_) => format!("You denied `{id}`."),
                        Err(e) => format!("Could not deny `{id}`: {e}"),
                    },
                )
            }
            SlashCommand::Help | SlashCommand::Confirm => unreachable!("handled above"),
        }
    }
}
