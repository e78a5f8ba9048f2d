//! The session policy that scopes a shell session's credentials to one target.

use serde_json::json;

use super::{PREFERENCES_DOCUMENT, ShellTarget};
use crate::domain::{AwsAccountId, Region, SessionId};

/// The session policy of a shell session's credentials: start Session Manager sessions on
/// `target` with the preferences document only, and terminate or resume only the sessions
/// these credentials open (Session Manager names them `<role session name>-<suffix>`).
pub fn shell_session_policy(
    partition: &str,
    region: &Region,
    account: &AwsAccountId,
    target: &ShellTarget,
    session: &SessionId,
    kms_key_id: Option<&str>,
) -> String {
    let mut statements = Vec::new();
    if let Some(key) = kms_key_id {
        // Session data encrypted with the key needs a data key from it, asked by the client.
        let resource = if key.starts_with("arn:") {
            key.to_string()
        } else {
            format!("arn:{partition}:kms:{region}:{account}:key/{key}")
        };
        statements.push(json!({
            "Sid": "SessionDataKey",
            "Effect": "Allow",
            "Action": "kms:GenerateDataKey",
            "Resource": resource,
        }));
    }
    let mut doc = json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "StartOnTheGrantedTargetOnly",
                "Effect": "Allow",
                "Action": "ssm:StartSession",
                "Resource": [
                    target.arn(partition, region, account),
                    format!("arn:{partition}:ssm:{region}:{account}:document/{PREFERENCES_DOCUMENT}"),
                ],
            },
            {
                "Sid": "OwnSessionsOnly",
                "Effect": "Allow",
                "Action": ["ssm:TerminateSession", "ssm:ResumeSession"],
                "Resource": format!("arn:{partition}:ssm:{region}:{account}:session/{}-*", session.role_session_name()),
            },
            {
                // The client's data channel, as AWS's end-user policies grant it (on the
                // sessions these credentials open, by either way AWS names them).
                "Sid": "OwnDataChannelsOnly",
                "Effect": "Allow",
                "Action": "ssmmessages:OpenDataChannel",
                "Resource": [
                    format!("arn:{partition}:ssm:{region}:{account}:session/{}-*", session.role_session_name()),
                    format!("arn:{partition}:ssm:{region}:{account}:session/${{aws:userid}}-*"),
                ],
            },
            {
                "Sid": "SeeSessions",
                "Effect": "Allow",
                "Action": ["ssm:DescribeSessions", "ssm:GetConnectionStatus"],
                "Resource": "*",
            },
        ]
    });
    if let Some(list) = doc["Statement"].as_array_mut() {
        list.extend(statements);
    }
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn owner() -> AwsAccountId {
        AwsAccountId::parse("123456789012").unwrap()
    }

    #[test]
    fn the_session_policy_names_one_target_and_the_sessions_own_ssm_sessions() {
        let id = SessionId::generate();
        let p: Value = serde_json::from_str(&shell_session_policy(
            "aws",
            &Region::parse("eu-west-1").unwrap(),
            &owner(),
            &ShellTarget::parse("i-0123abcd").unwrap(),
            &id,
            None,
        ))
        .unwrap();
        assert_eq!(
            p["Statement"][0]["Resource"][0],
            "arn:aws:ec2:eu-west-1:123456789012:instance/i-0123abcd"
        );
        assert_eq!(
            p["Statement"][1]["Resource"],
            format!("arn:aws:ssm:eu-west-1:123456789012:session/cib-{id}-*")
        );
    }
}
