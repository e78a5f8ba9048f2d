//! The grant itself, in AWS: each kind's room grants (`kinds`); starts, approvals and
//! extensions all grant through here. This module keeps what role sessions (JIT, shell) share:
//! the user's own key opened, AssumeRole with it (the session's name, SourceIdentity, session
//! policy and tags, asked again while IAM applies a recent change) and the console sign-in link.

use super::{Checked, Granted, SessionService, kinds};
use crate::domain::{Account, AccountCredentials, Secret, Session};
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
        kinds::room(session.kind)
            .grant(self, account, session, checked, secret, link)
            .await
    }

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
        let credential = checked.its_iam_user().credential.as_ref().expect("checked");
        self.sealer
            .open(
                &credential.sealed_secret,
                &SealContext::user(&account.id, session.its_iam_user()),
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
    pub(super) async fn assume_as_user(
        &self,
        account: &Account,
        session: &Session,
        checked: &Checked,
        secret: Option<Secret>,
        policy: String,
        extra_tags: Vec<(String, String)>,
    ) -> Result<TemporaryCredentials, (String, CloudError)> {
        let credential = checked.its_iam_user().credential.as_ref().expect("checked");
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
