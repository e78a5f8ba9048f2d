//! The one-time answer of an approved request (or extension): sealed with KMS when the last
//! approval grants it, held for the requester, and handed to them once on their `GET` (the
//! approver never sees it).

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{Granted, SessionError, SessionService, rfc3339};
use crate::auth::{Principal, Role};
use crate::domain::{RoleArn, Secret, Session, SessionStatus};
use crate::ports::{SealContext, TemporaryCredentials};

fn credentials_json(credentials: &TemporaryCredentials) -> Value {
    json!({
        "access_key_id": credentials.access_key_id,
        "secret_access_key": credentials.secret_access_key.expose(),
        "session_token": credentials.session_token.expose(),
        "expiration": rfc3339(credentials.expiration),
    })
}

fn credentials_from(j: &Value) -> Option<TemporaryCredentials> {
    let s = |v: &Value| v.as_str().map(str::to_string);
    Some(TemporaryCredentials {
        access_key_id: s(&j["access_key_id"])?,
        secret_access_key: Secret::new(s(&j["secret_access_key"])?),
        session_token: Secret::new(s(&j["session_token"])?),
        expiration: OffsetDateTime::parse(
            j["expiration"].as_str()?,
            &time::format_description::well_known::Rfc3339,
        )
        .ok()?,
    })
}

fn to_json(granted: &Granted) -> Value {
    match granted {
        Granted::Jit {
            credentials,
            console_url,
        } => {
            let mut jit = credentials_json(credentials);
            jit["console_url"] = json!(console_url);
            json!({ "jit": jit })
        }
        Granted::Shell { credentials, connect } => json!({
            "shell": { "credentials": credentials_json(credentials), "connect": connect }
        }),
        Granted::JitLink { console_url } => json!({ "link": console_url }),
        Granted::IdentityCenter(using) => json!({ "identity_center": using }),
        Granted::Console {
            signin_url,
            user_name,
            password,
            switch_role_links,
        } => json!({
            "console": {
                "signin_url": signin_url,
                "user_name": user_name,
                "password": password.expose(),
                "links": switch_role_links.iter().map(|(r, u)| json!([r.to_string(), u])).collect::<Vec<_>>(),
            }
        }),
    }
}

fn from_json(v: &Value) -> Option<Granted> {
    let s = |v: &Value| v.as_str().map(str::to_string);
    if let Some(j) = v.get("jit") {
        return Some(Granted::Jit {
            credentials: credentials_from(j)?,
            console_url: s(&j["console_url"])?,
        });
    }
    if let Some(sh) = v.get("shell") {
        return Some(Granted::Shell {
            credentials: credentials_from(&sh["credentials"])?,
            connect: serde_json::from_value(sh["connect"].clone()).ok()?,
        });
    }
    if let Some(ic) = v.get("identity_center") {
        return Some(Granted::IdentityCenter(Box::new(
            serde_json::from_value(ic.clone()).ok()?,
        )));
    }
    if let Some(l) = v.get("link") {
        return Some(Granted::JitLink { console_url: s(l)? });
    }
    let c = v.get("console")?;
    Some(Granted::Console {
        signin_url: s(&c["signin_url"])?,
        user_name: s(&c["user_name"])?,
        password: Secret::new(s(&c["password"])?),
        switch_role_links: c["links"]
            .as_array()?
            .iter()
            .map(|l| Some((RoleArn::parse(l[0].as_str()?).ok()?, s(&l[1])?)))
            .collect::<Option<_>>()?,
    })
}

impl SessionService {
    /// Holds `granted` for `session`'s requester until its credentials end.
    pub(super) async fn hold_for_requester(&self, session: &Session, granted: &Granted) -> Result<(), String> {
        let plaintext = Secret::new(to_json(granted).to_string());
        let sealed = self
            .sealer
            .seal(&plaintext, &SealContext::pickup(&session.id))
            .await
            .map_err(|e| e.to_string())?;
        let until = match granted {
            Granted::Jit { credentials, .. } | Granted::Shell { credentials, .. } => credentials.expiration,
            _ => session.expires_at,
        };
        self.pickups
            .hold(&session.id, &sealed, until)
            .await
            .map_err(|e| e.to_string())
    }

    /// A session and, for its own user once after an approval, what it granted (never to a
    /// bot, an approver or an admin).
    pub async fn get_and_collect(
        &self,
        principal: &Principal,
        id: &crate::domain::SessionId,
        on_behalf_of: Option<&crate::domain::Email>,
    ) -> Result<(Session, Option<Granted>), SessionError> {
        let session = self.get(principal, id, on_behalf_of).await?;
        // The requester's own read only: a bot relaying for them would take credentials it may
        // not relay (a console password), or consume what the requester is waiting for.
        let own = on_behalf_of.is_none()
            && principal.role != Role::Bot
            && principal.email.as_deref() == Some(session.user.as_str());
        // Only what an approval granted waits here.
        let approved = session.request.is_some() || !session.extensions.is_empty();
        if !own || !approved || session.status != SessionStatus::Active {
            return Ok((session, None));
        }
        let Some(sealed) = self.pickups.take(id).await? else {
            return Ok((session, None));
        };
        let opened = match self.sealer.open(&sealed, &SealContext::pickup(id)).await {
            Ok(o) => o,
            Err(e) => {
                // Taken but not opened: put it back for the next read rather than lose it.
                if let Err(again) = self.pickups.hold(id, &sealed, session.expires_at).await {
                    tracing::error!(session = %id, error = %again, "an approved answer could not be put back; it is lost");
                }
                return Err(SessionError::Unavailable(e.to_string()));
            }
        };
        let granted = serde_json::from_str::<Value>(opened.expose())
            .ok()
            .as_ref()
            .and_then(from_json)
            .ok_or_else(|| SessionError::Unavailable(format!("the held answer of {id} is corrupt")))?;
        tracing::info!(session = %id, "an approved session's answer was collected by its requester");
        Ok((session, Some(granted)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_held_reads_back_the_same() {
        let jit = Granted::Jit {
            credentials: TemporaryCredentials {
                access_key_id: "ASIA1".into(),
                secret_access_key: Secret::new("s"),
                session_token: Secret::new("t"),
                expiration: OffsetDateTime::from_unix_timestamp(2_000_000_000).unwrap(),
            },
            console_url: "https://signin".into(),
        };
        let back = from_json(&to_json(&jit)).unwrap();
        assert_eq!(format!("{back:?}"), format!("{jit:?}"));
        let console = Granted::Console {
            signin_url: "https://x".into(),
            user_name: "u".into(),
            password: Secret::new("p"),
            switch_role_links: vec![(RoleArn::parse("arn:aws:iam::123456789012:role/R").unwrap(), "l".into())],
        };
        let back = from_json(&to_json(&console)).unwrap();
        assert!(matches!(back, Granted::Console { ref password, .. } if password.expose() == "p"));
    }
}
