//! The grant itself, in AWS: JIT credentials (AssumeRole with the user's own key, the
//! session's name, SourceIdentity, session policy and tags) with a console sign-in link,
//! shell credentials (the same AssumeRole on the shell role, scoped to one target), or a
//! console password checkout with the session deny narrowed. Starts, approvals and extensions
//! all grant through here.

use super::{Checked, Granted, SessionService, ShellConnect};
use crate::domain::shell::{PREFERENCES_DOCUMENT, RUN_AS_TAG, shell_session_policy};
use crate::domain::{Account, AccountCredentials, Secret, Session, SessionKind, iam_policies};
use crate::ports::{AccountAccess, AssumeRequest, CloudError, SealContext, TemporaryCredentials};

impl SessionService {
    /// `secret`: the user's key, when the caller opened it already (a start does, alongside
    /// its writes). `link`: whether a JIT grant fetches its console sign-in link here (a start
    /// fetches it itself, alongside its writes; `Granted::Jit` then holds no link yet).
    pub(super) async fn grant(
        &self,
        account: &Account,
        session: &Session,
        checked: &Checked,
        secret: Option<Secret>,
        link: bool,
    ) -> Result<Granted, (String, CloudError)> {
        let err = |step: &'static str| move |e: CloudError| (step.to_string(), e);
        match session.kind {
            SessionKind::Shell => {
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
                let credentials = self
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
            SessionKind::Jit => {
                let credentials = self
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
                    true => self
                        .sign_in_link(account, session, &credentials)
                        .await
                        .map_err(err("get a console sign-in token"))?,
                    false => String::new(),
                };
                Ok(Granted::Jit {
                    credentials,
                    console_url,
                })
            }
            SessionKind::Console => {
                let iam = self.target.connect(account).await?;
                let policy = iam.password_policy().await.map_err(err("read the password policy"))?;
                let password = crate::services::passwords::generate(policy);
                iam.set_login_profile(&session.iam_user, &password)
                    .await
                    .map_err(err("set the console password"))?;
                // The session deny narrows to what a console session may not do: assume any
                // role but by the console's switch-role (and that only with JIT granted).
                let narrowed = if session.switch_roles.is_empty() {
                    iam_policies::console_without_jit_document()
                } else {
                    iam_policies::console_with_jit_document(&session.iam_user, &session.switch_roles)
                };
                iam.put_inline_policy(&session.iam_user, iam_policies::SESSION_DENY_POLICY, &narrowed)
                    .await
                    .map_err(err("narrow the session deny policy"))?;
                let links = iam_policies::role_guides(account, &checked.iam_user, &checked.jit)
                    .into_iter()
                    .filter(|g| session.switch_roles.contains(&g.role))
                    .map(|g| (g.role, g.switch_role_url))
                    .collect();
                Ok(Granted::Console {
                    signin_url: format!("https://{}.signin.aws.amazon.com/console", account.aws_account_id),
                    user_name: session.iam_user.to_string(),
                    password,
                    switch_role_links: links,
                })
            }
        }
    }
}

impl SessionService {
    /// The console sign-in link for a JIT session's credentials.
    pub(super) async fn sign_in_link(
        &self,
        account: &Account,
        session: &Session,
        credentials: &TemporaryCredentials,
    ) -> Result<String, CloudError> {
        let region = account.default_region.as_str();
        let destination = format!("https://{region}.console.aws.amazon.com/console/home?region={region}");
        self.federation
            .signin_url(credentials, session.duration_seconds, &destination)
            .await
    }

    /// The user's own key, opened (KMS) for one AssumeRole.
    pub(super) async fn open_user_key(
        &self,
        account: &Account,
        session: &Session,
        checked: &Checked,
    ) -> Result<Secret, (String, CloudError)> {
        let credential = checked.iam_user.credential.as_ref().expect("checked");
        self.sealer
            .open(
                &credential.sealed_secret,
                &SealContext::user(&account.id, &session.iam_user),
            )
            .await
            .map_err(|e| {
                (
                    "open the user's credential".to_string(),
                    CloudError::Unavailable(e.to_string()),
                )
            })
    }

    /// AssumeRole on the session's role with the user's own key (`secret`, or opened here):
    /// the session's name, SourceIdentity (the user's e-mail), `policy`, and the broker's tags
    /// plus `extra_tags`.
    async fn assume_as_user(
        &self,
        account: &Account,
        session: &Session,
        checked: &Checked,
        secret: Option<Secret>,
        policy: String,
        extra_tags: Vec<(String, String)>,
    ) -> Result<TemporaryCredentials, (String, CloudError)> {
        let credential = checked.iam_user.credential.as_ref().expect("checked");
        let secret = match secret {
            Some(secret) => secret,
            None => self.open_user_key(account, session, checked).await?,
        };
        let as_user = AccountAccess {
            aws_account_id: account.aws_account_id.clone(),
            region: account.default_region.clone(),
            credentials: AccountCredentials::AccessKey {
                access_key_id: credential.access_key_id.clone(),
                secret_access_key: secret,
            },
        };
        let mut tags = vec![
            ("cloud-iam-broker:session-id".into(), session.id.to_string()),
            ("cloud-iam-broker:requested-by".into(), tag_value(&session.requested_by)),
        ];
        tags.extend(extra_tags);
        let request = AssumeRequest {
            role: session.role.clone().expect("checked"),
            session_name: session.id.role_session_name(),
            duration_seconds: session.duration_seconds,
            source_identity: session.user.to_string(),
            policy: Some(policy),
            tags,
        };
        let mut waits = PROPAGATION_WAITS.iter();
        loop {
            match self.assumer.assume_role(&as_user, &request).await {
                Err(CloudError::Refused(why)) if not_yet_applied(&why) => match waits.next() {
                    Some(wait) => {
                        tracing::info!(session = %session.id, wait_ms = wait.as_millis() as u64, why, "AssumeRole refused; IAM may still be applying a recent change, asking again");
                        tokio::time::sleep(*wait).await;
                    }
                    None => return Err(("assume the role".to_string(), CloudError::Refused(why))),
                },
                other => return other.map_err(|e| ("assume the role".to_string(), e)),
            }
        }
    }
}

/// IAM applies a new access key, inline policy or trust policy within seconds, not at once
/// ("Changes that I make are not always immediately visible", IAM troubleshooting): the first
/// start after provisioning, a rotation or a trust change can be refused meanwhile. AssumeRole
/// refused that way is asked again after each of these waits (7.75 s in all, inside the API's
/// 29 s with the rest of a start); what is still refused is then explained by the start
/// (`checks::role_gone_or`: a 503 to retry when the role trusts the broker).
const PROPAGATION_WAITS: [std::time::Duration; 5] = [
    std::time::Duration::from_millis(250),
    std::time::Duration::from_millis(500),
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(2),
    std::time::Duration::from_secs(4),
];

/// STS's refusals that a change not yet applied gives: an access key IAM does not know yet,
/// or a policy or trust that does not allow it yet.
fn not_yet_applied(why: &str) -> bool {
    why.starts_with("InvalidClientTokenId") || why.starts_with("AccessDenied")
}

/// Session tag values allow a limited character set; keep what fits.
fn tag_value(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || " _.:/=+-@".contains(*c))
        .take(256)
        .collect()
}
