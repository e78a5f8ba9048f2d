"""Console sessions and the credentials CloudShell exports from them, end to end (the real server,
boto3, real keys), plus the sign-in token's 15-minute window on the store with a fake clock.

Cases from AWS's documentation:
- "Enable custom identity broker access to the AWS console", IAM User Guide
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_enable-console-custom-url.html):
  getSigninToken takes the role credentials as `Session` (sessionId, sessionKey, sessionToken)
  and a SessionDuration "from 900 seconds (15 minutes) to 43200 seconds (12 hours)", "separate
  from the duration of the temporary credentials"; without it "the session defaults to the
  duration of the credentials"; the URL with the token "is valid for 15 minutes from the time it
  is created";
- AssumeRole, STS API Reference (API_AssumeRole.html): "The DurationSeconds parameter is separate
  from the duration of a console session that you might request using the returned credentials";
- IAM users' console sessions last 12 hours (AWS console FAQ, "a login session will expire in 12
  hours when you sign into the AWS Management Console with your AWS or IAM account
  credentials"); a failed sign-in is "Failed authentication" (the errorMessage of a failed
  ConsoleLogin, "Example sign-in events in CloudTrail log", IAM User Guide
  cloudtrail-integration.html);
- CloudShell is "pre-authenticated with your console credentials" (using-aws-with-cloudshell.html)
  and `aws configure export-credentials` prints them (AWS CLI reference);
- aws:TokenIssueTime "is included in the request context only when the principal uses temporary
  credentials" (reference_policies_condition-keys.html; the Null operator's example,
  reference_policies_elements_condition_operators.html);
- the CloudTrail userIdentity element (cloudtrail-event-reference-user-identity.html).
The broker revokes such consoles with deny policies on aws:userid and aws:TokenIssueTime; these
tests show those denies reach the exported credentials as they reach the original ones.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cib_local_aws.console_sessions import Refused, Store
from conftest import ACCOUNT, ALLOW_ALL, Aws, Keys, assume, code, expire_session, role, trust, unique, user_with_key

LOCAL_AWS_ENV = {"CIB_LOCAL_CLOUDTRAIL_RATE": "0"}  # deterministic LookupEvents

LIST_ROLES_AND_USERS = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["iam:ListRoles", "iam:ListUsers", "iam:ListGroups"], "Resource": "*"}]}
)
SESSION_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["iam:ListRoles", "iam:ListGroups"], "Resource": "*"}]})


def control(aws: Aws, path: str, body) -> tuple[int, dict]:
    """POST a control endpoint: a dict as JSON, bytes as they are."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(f"{aws.endpoint}/moto-api/cib/{path}", data=data, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def session_json(keys: Keys, **extra) -> dict:
    return {"sessionId": keys.id, "sessionKey": keys.secret, "sessionToken": keys.token, **extra}


def console_of(aws: Aws, keys: Keys, **extra) -> dict:
    """getSigninToken, then login: the console session's {"ConsoleSessionId", "Expiration"}."""
    status, token = control(aws, "federation/signin-token", session_json(keys, **extra))
    assert status == 200, token
    status, console = control(aws, "console/login", {"SigninToken": token["SigninToken"]})
    assert status == 200, console
    return console


def export(aws: Aws, console: dict) -> Keys:
    status, creds = control(aws, "console/export-credentials", {"ConsoleSessionId": console["ConsoleSessionId"]})
    assert status == 200, creds
    assert creds["AccessKeyId"].startswith("ASIA")
    assert creds["Expiration"] == console["Expiration"]  # valid until the console session ends
    return Keys(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


def seconds_left(expiration: str) -> float:
    return (dt.datetime.fromisoformat(expiration) - dt.datetime.now(dt.timezone.utc)).total_seconds()


def refused(call) -> str:
    with pytest.raises(ClientError) as e:
        call()
    return code(e)


def jit_role(aws: Aws, session_name: str = "alice-jit", **assume_kwargs) -> tuple[str, str, Keys, Keys]:
    """(role name, role ARN, the user's keys, a role session): a user allowed everything, a role
    trusting it (MaxSessionDuration 12 h) that may list roles, users and groups, and a session
    of it with SourceIdentity alice, a session tag team=red and a session policy (roles and groups
    only), 900 s unless said."""
    user_arn, user_keys = user_with_key(aws, unique("broker"), ALLOW_ALL)
    name = unique("Jit")
    statement = {"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"]}
    arn = role(aws, name, trust(statement), LIST_ROLES_AND_USERS)
    aws.client("iam", aws.admin).update_role(RoleName=name, MaxSessionDuration=43200)
    kwargs = {"DurationSeconds": 900, "SourceIdentity": "alice", "Tags": [{"Key": "team", "Value": "red"}], "Policy": SESSION_POLICY, **assume_kwargs}
    session = assume(aws, user_keys, arn, session_name, **kwargs)
    return name, arn, user_keys, session


def deny(statement_condition: dict, action="*") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": action, "Resource": "*", "Condition": statement_condition}]})


# --- role consoles ------------------------------------------------------------------------------


def test_a_console_outlives_the_role_credentials_and_exports_the_same_session(aws):
    name, arn, _, session = jit_role(aws)
    original = aws.client("sts", session).get_caller_identity()
    console = console_of(aws, session, SessionDuration=43200)
    assert 43190 <= seconds_left(console["Expiration"]) <= 43200  # from the login, not the credentials' 900 s

    # The role credentials expire; the console made before lives on.
    assert expire_session(aws, session.id)[0] == 200
    assert refused(lambda: aws.client("iam", session).list_roles()) == "ExpiredToken"
    exported = export(aws, console)
    assert exported.id != session.id

    # The same role session: same ARN and aws:userid, the role's permissions...
    who = aws.client("sts", exported).get_caller_identity()
    assert (who["Arn"], who["UserId"], who["Account"]) == (original["Arn"], original["UserId"], ACCOUNT)
    assert who["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/alice-jit"
    aws.client("iam", exported).list_roles()
    # ... within the original session policy (the role allows ListUsers, the session policy not).
    assert refused(lambda: aws.client("iam", exported).list_users()) == "AccessDenied"

    # Several exports from one console, each its own working credentials.
    again = export(aws, console)
    assert again.id not in (exported.id, session.id)
    aws.client("iam", again).list_roles()
    aws.client("iam", exported).list_roles()


def test_a_deny_on_the_session_name_refuses_the_exported_credentials(aws):
    name, arn, user_keys, session = jit_role(aws, session_name="bob-jit")
    other = assume(aws, user_keys, arn, "carol-jit", DurationSeconds=900)  # another session of the role
    exported = export(aws, console_of(aws, session, SessionDuration=43200))
    aws.client("iam", exported).list_roles()

    # The broker's revocation: a Deny on the role keyed on the session's aws:userid.
    aws.client("iam", aws.admin).put_role_policy(RoleName=name, PolicyName="revoke", PolicyDocument=deny({"StringLike": {"aws:userid": "*:bob-jit"}}))
    assert refused(lambda: aws.client("iam", exported).list_roles()) == "AccessDenied"
    assert refused(lambda: aws.client("iam", session).list_roles()) == "AccessDenied"
    aws.client("iam", other).list_roles()  # another session name is not concerned


def test_exported_credentials_keep_the_original_issue_time_source_identity_and_tags(aws):
    name, arn, user_keys, session = jit_role(aws)
    time.sleep(0.01)
    cutoff = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # after the original's issue
    console = console_of(aws, session, SessionDuration=43200)
    exported = export(aws, console)  # exported after the cutoff
    client = aws.client("iam", exported)
    client.list_roles()
    client.list_groups()

    iam = aws.client("iam", aws.admin)
    iam.put_role_policy(RoleName=name, PolicyName="sid", PolicyDocument=deny({"StringEquals": {"aws:SourceIdentity": "alice"}}, action="iam:ListGroups"))
    assert refused(lambda: client.list_groups()) == "AccessDenied"  # SourceIdentity carried
    iam.delete_role_policy(RoleName=name, PolicyName="sid")
    iam.put_role_policy(RoleName=name, PolicyName="tag", PolicyDocument=deny({"StringEquals": {"aws:PrincipalTag/team": "red"}}, action="iam:ListGroups"))
    assert refused(lambda: client.list_groups()) == "AccessDenied"  # session tag carried
    iam.delete_role_policy(RoleName=name, PolicyName="tag")
    client.list_groups()

    # Revocation by issue time: a Deny on tokens issued before a moment between the original
    # credentials' issue and the export applies to the exported credentials too.
    iam.put_role_policy(RoleName=name, PolicyName="revoke", PolicyDocument=deny({"DateLessThan": {"aws:TokenIssueTime": cutoff}}))
    assert refused(lambda: client.list_roles()) == "AccessDenied"
    fresh = export(aws, console)  # a later export still carries the original issue time
    assert refused(lambda: aws.client("iam", fresh).list_roles()) == "AccessDenied"
    later = assume(aws, user_keys, arn, "alice-jit", DurationSeconds=900)  # issued after the cutoff
    aws.client("iam", later).list_roles()


def test_role_chaining_from_exported_credentials_carries_the_source_identity(aws):
    name, arn, _, session = jit_role(aws)
    aws.client("iam", aws.admin).put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=ALLOW_ALL)
    second = role(
        aws,
        unique("Next"),
        trust({"Effect": "Allow", "Principal": {"AWS": arn}, "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"]}),
        LIST_ROLES_AND_USERS,
    )
    exported = export(aws, console_of(aws, session, SessionDuration=43200))
    sts = aws.client("sts", exported)
    # The session policy still limits them: it does not allow sts:AssumeRole.
    assert refused(lambda: sts.assume_role(RoleArn=second, RoleSessionName="next")) == "AccessDenied"

    name2, arn2, _, session2 = jit_role(aws, Policy=ALLOW_ALL)
    aws.client("iam", aws.admin).put_role_policy(RoleName=name2, PolicyName="all", PolicyDocument=ALLOW_ALL)
    third = role(
        aws,
        unique("Next"),
        trust({"Effect": "Allow", "Principal": {"AWS": arn2}, "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"]}),
        LIST_ROLES_AND_USERS,
    )
    sts2 = aws.client("sts", export(aws, console_of(aws, session2, SessionDuration=43200)))
    chained = sts2.assume_role(RoleArn=third, RoleSessionName="next")
    assert chained["SourceIdentity"] == "alice"
    # They are role session credentials: chaining is limited to one hour.
    with pytest.raises(ClientError) as e:
        sts2.assume_role(RoleArn=third, RoleSessionName="next", DurationSeconds=7200)
    assert code(e) == "ValidationError"


def test_a_deleted_and_recreated_role_leaves_exported_credentials_nothing(aws):
    name, arn, _, session = jit_role(aws)
    exported = export(aws, console_of(aws, session, SessionDuration=3600))
    aws.client("iam", exported).list_roles()
    iam = aws.client("iam", aws.admin)
    iam.delete_role_policy(RoleName=name, PolicyName="p0")
    iam.delete_role(RoleName=name)
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}))
    iam.put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=ALLOW_ALL)
    assert refused(lambda: aws.client("iam", exported).list_roles()) == "AccessDenied"


def test_session_duration_defaults_to_the_credentials_duration(aws):
    _, _, _, short = jit_role(aws)  # 900 s credentials
    assert 890 <= seconds_left(console_of(aws, short)["Expiration"]) <= 900
    _, _, _, default = jit_role(aws, DurationSeconds=3600)
    assert 3590 <= seconds_left(console_of(aws, default)["Expiration"]) <= 3600
    assert 1790 <= seconds_left(console_of(aws, short, SessionDuration="1800")["Expiration"]) <= 1800  # a numeric string
    assert 895 <= seconds_left(console_of(aws, default, SessionDuration=900)["Expiration"]) <= 900


def test_session_duration_out_of_range_is_refused(aws):
    _, _, _, session = jit_role(aws)
    for bad in (899, 43201, 0, -1, "899", "abc", "", 1.5, True, [900]):
        status, body = control(aws, "federation/signin-token", session_json(session, SessionDuration=bad))
        assert status == 400 and body["message"], bad
    assert control(aws, "federation/signin-token", session_json(session, SessionDuration=900))[0] == 200
    assert control(aws, "federation/signin-token", session_json(session, SessionDuration=43200))[0] == 200


def test_the_signin_token_needs_live_role_credentials(aws):
    _, _, user_keys, session = jit_role(aws)
    assert control(aws, "federation/signin-token", session_json(session))[0] == 200
    wrong = [
        session_json(Keys("ASIANOSUCHSESSION000", session.secret, session.token)),
        session_json(Keys(session.id, session.secret + "x", session.token)),
        session_json(Keys(session.id, session.secret, session.token + "x")),
        session_json(Keys(user_keys.id, user_keys.secret, "none")),  # a user's long-term key
        {"sessionId": session.id, "sessionKey": session.secret},  # no token
        {"sessionId": session.id, "sessionKey": session.secret, "sessionToken": 7},
    ]
    for body in wrong:
        status, answer = control(aws, "federation/signin-token", body)
        assert status == 400 and answer["message"], body
    assert control(aws, "federation/signin-token", b"not json")[0] == 400
    assert control(aws, "federation/signin-token", b"[1]")[0] == 400
    expire_session(aws, session.id)
    status, answer = control(aws, "federation/signin-token", session_json(session))
    assert status == 400 and "expired" in answer["message"]


def test_a_signin_token_signs_in_once(aws):
    _, _, _, session = jit_role(aws)
    status, token = control(aws, "federation/signin-token", session_json(session, SessionDuration=3600))
    assert status == 200 and len(token["SigninToken"]) >= 32
    assert control(aws, "console/login", {"SigninToken": token["SigninToken"]})[0] == 200
    status, answer = control(aws, "console/login", {"SigninToken": token["SigninToken"]})
    assert status == 400 and answer["message"]
    assert control(aws, "console/login", {"SigninToken": "made-up"})[0] == 400
    assert control(aws, "console/login", {})[0] == 400
    # Each getSigninToken gives its own token.
    first = control(aws, "federation/signin-token", session_json(session))[1]["SigninToken"]
    second = control(aws, "federation/signin-token", session_json(session))[1]["SigninToken"]
    assert first != second


def test_the_signin_token_lasts_15_minutes_on_a_fake_clock():
    now = [dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)]
    store = Store(now=lambda: now[0])
    within = store.issue_token(object(), ACCOUNT, "aws", 43200)
    late = store.issue_token(object(), ACCOUNT, "aws", 900)
    now[0] += dt.timedelta(minutes=15)
    console = store.redeem(within)  # 15 minutes after its issue: still valid
    assert console.expires == now[0] + dt.timedelta(seconds=43200)
    now[0] += dt.timedelta(seconds=1)
    with pytest.raises(Refused) as e:
        store.redeem(late)
    assert e.value.status == 400 and "15 minutes" in e.value.message
    with pytest.raises(Refused):
        store.redeem(within)  # once
    # The console session itself ends at its expiry, whatever happens to tokens.
    assert store.live_console(console.console_id) is console
    now[0] = console.expires
    with pytest.raises(Refused) as e:
        store.live_console(console.console_id)
    assert e.value.status == 400
    with pytest.raises(Refused) as e:
        store.live_console("console-unknown")
    assert e.value.status == 404
    with pytest.raises(Refused):
        store.issue_token(object(), ACCOUNT, "aws", 899)


def test_export_of_an_unknown_or_ended_console(aws):
    assert control(aws, "console/export-credentials", {"ConsoleSessionId": "console-nosuch"})[0] == 404
    assert control(aws, "console/export-credentials", {})[0] == 400
    assert control(aws, "console/expire", {"ConsoleSessionId": "console-nosuch"})[0] == 404
    _, _, _, session = jit_role(aws)
    console = console_of(aws, session, SessionDuration=43200)
    exported = export(aws, console)
    status, ended = control(aws, "console/expire", {"ConsoleSessionId": console["ConsoleSessionId"]})
    assert status == 200 and seconds_left(ended["Expiration"]) <= 0
    # The console has ended: its exported credentials too, and no more exports.
    assert refused(lambda: aws.client("iam", exported).list_roles()) == "ExpiredToken"
    status, answer = control(aws, "console/export-credentials", {"ConsoleSessionId": console["ConsoleSessionId"]})
    assert status == 400 and answer["message"]


# --- IAM users' consoles -------------------------------------------------------------------------


def user_with_password(aws: Aws, password: str = "Corr3ct-horse!", *policies: str) -> tuple[str, Keys]:
    name = unique("dave")
    _, keys = user_with_key(aws, name, *(policies or (LIST_ROLES_AND_USERS,)))
    aws.client("iam", aws.admin).create_login_profile(UserName=name, Password=password)
    return name, keys


def user_console(aws: Aws, name: str, password: str = "Corr3ct-horse!") -> tuple[int, dict]:
    return control(aws, "console/user-login", {"AccountId": ACCOUNT, "UserName": name, "Password": password})


def test_an_iam_user_signs_in_with_the_login_profiles_password(aws):
    name, _ = user_with_password(aws)
    status, console = user_console(aws, name)
    assert status == 200
    assert 43190 <= seconds_left(console["Expiration"]) <= 43200  # 12 hours
    for body in (
        {"AccountId": ACCOUNT, "UserName": name, "Password": "wrong"},
        {"AccountId": ACCOUNT, "UserName": unique("nobody"), "Password": "Corr3ct-horse!"},
        {"AccountId": "210000000001", "UserName": name, "Password": "Corr3ct-horse!"},  # another account
    ):
        assert control(aws, "console/user-login", body) == (400, {"message": "Failed authentication"})
    nopass = unique("erin")
    user_with_key(aws, nopass, ALLOW_ALL)  # no login profile
    assert user_console(aws, nopass) == (400, {"message": "Failed authentication"})
    assert control(aws, "console/user-login", {"AccountId": "12", "UserName": name, "Password": "x"})[0] == 400
    assert control(aws, "console/user-login", {"AccountId": ACCOUNT, "UserName": name})[0] == 400


def test_a_password_reset_does_not_end_an_open_console(aws):
    name, _ = user_with_password(aws)
    console = user_console(aws, name)[1]
    aws.client("iam", aws.admin).update_login_profile(UserName=name, Password="N3w-password!")
    assert user_console(aws, name)[0] == 400  # the old password no longer signs in
    assert user_console(aws, name, "N3w-password!")[0] == 200
    aws.client("iam", export(aws, console)).list_roles()  # the console opened before still works


def test_user_console_credentials_act_as_the_user_with_a_token_issue_time(aws):
    name, long_term = user_with_password(aws, "Corr3ct-horse!", ALLOW_ALL)
    target = role(aws, unique("Target"), trust({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}), LIST_ROLES_AND_USERS)
    exported = export(aws, user_console(aws, name)[1])

    who = aws.client("sts", exported).get_caller_identity()
    user = aws.client("iam", aws.admin).get_user(UserName=name)["User"]
    assert (who["Arn"], who["UserId"], who["Account"]) == (user["Arn"], user["UserId"], ACCOUNT)
    aws.client("iam", exported).list_roles()
    aws.client("sts", exported).assume_role(RoleArn=target, RoleSessionName="from-console")

    # The user's context keys: a policy variable on aws:username, tags as aws:PrincipalTag.
    aws.client("iam", aws.admin).tag_user(UserName=name, Tags=[{"Key": "team", "Value": "blue"}])
    aws.client("iam", aws.admin).put_user_policy(
        UserName=name, PolicyName="tag", PolicyDocument=deny({"StringEquals": {"aws:PrincipalTag/team": "blue", "aws:PrincipalType": "User"}}, action="iam:ListGroups")
    )
    assert refused(lambda: aws.client("iam", exported).list_groups()) == "AccessDenied"
    assert refused(lambda: aws.client("iam", long_term).list_groups()) == "AccessDenied"

    # Temporary credentials carry aws:TokenIssueTime; the user's long-term key does not.
    aws.client("iam", aws.admin).put_user_policy(
        UserName=name, PolicyName="temporary", PolicyDocument=deny({"Null": {"aws:TokenIssueTime": "false"}}, action="sts:AssumeRole")
    )
    assert refused(lambda: aws.client("sts", exported).assume_role(RoleArn=target, RoleSessionName="from-console")) == "AccessDenied"
    aws.client("sts", long_term).assume_role(RoleArn=target, RoleSessionName="from-key")
    aws.client("iam", exported).list_roles()  # the deny is on sts:AssumeRole only


def test_user_console_credentials_of_a_deleted_user_are_refused(aws):
    name, keys = user_with_password(aws)
    exported = export(aws, user_console(aws, name)[1])
    aws.client("iam", exported).list_roles()
    iam = aws.client("iam", aws.admin)
    iam.delete_user_policy(UserName=name, PolicyName="p0")
    iam.delete_access_key(UserName=name, AccessKeyId=keys.id)
    iam.delete_login_profile(UserName=name)
    iam.delete_user(UserName=name)
    assert refused(lambda: aws.client("iam", exported).list_roles()) == "InvalidClientTokenId"
    iam.create_user(UserName=name)  # the same name, another user
    iam.put_user_policy(UserName=name, PolicyName="all", PolicyDocument=ALLOW_ALL)
    assert refused(lambda: aws.client("iam", exported).list_roles()) == "InvalidClientTokenId"


def test_user_console_credentials_expire_with_the_console(aws):
    name, _ = user_with_password(aws)
    console = user_console(aws, name)[1]
    exported = export(aws, console)
    bad_token = Keys(exported.id, exported.secret, exported.token + "x")
    assert refused(lambda: aws.client("iam", bad_token).list_roles()) == "InvalidClientTokenId"
    assert control(aws, "console/expire", {"ConsoleSessionId": console["ConsoleSessionId"]})[0] == 200
    assert refused(lambda: aws.client("iam", exported).list_roles()) == "ExpiredToken"
    assert control(aws, "console/export-credentials", {"ConsoleSessionId": console["ConsoleSessionId"]})[0] == 400


# --- CloudTrail --------------------------------------------------------------------------------


def recorded(aws: Aws, access_key_id: str) -> list[dict]:
    client = boto3.client(
        "cloudtrail",
        region_name="us-east-1",
        endpoint_url=aws.endpoint,
        aws_access_key_id=aws.admin.id,
        aws_secret_access_key=aws.admin.secret,
        config=Config(retries={"total_max_attempts": 1}),
    )
    found = client.lookup_events(LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": access_key_id}])["Events"]
    return [json.loads(e["CloudTrailEvent"]) for e in found]


def test_cloudtrail_records_exported_credentials_as_the_consoles_principal(aws):
    name, arn, _, session = jit_role(aws)
    original_issue = aws.client("sts", session).get_caller_identity()  # recorded as the session
    exported = export(aws, console_of(aws, session, SessionDuration=43200))
    aws.client("iam", exported).list_roles()
    (event,) = recorded(aws, exported.id)
    (before,) = recorded(aws, session.id)
    assert event["eventName"] == "ListRoles"
    who, was = event["userIdentity"], before["userIdentity"]
    assert who["type"] == "AssumedRole" and who["accessKeyId"] == exported.id
    assert (who["arn"], who["principalId"]) == (original_issue["Arn"], original_issue["UserId"])
    assert who["sessionContext"] == was["sessionContext"]  # same issuer, creation date, source identity
    assert who["sessionContext"]["sourceIdentity"] == "alice"

    user_name, _ = user_with_password(aws)
    user_exported = export(aws, user_console(aws, user_name)[1])
    aws.client("iam", user_exported).list_roles()
    (event,) = recorded(aws, user_exported.id)
    user = aws.client("iam", aws.admin).get_user(UserName=user_name)["User"]
    who = event["userIdentity"]
    assert {k: who[k] for k in ("type", "principalId", "arn", "accountId", "accessKeyId", "userName")} == {
        "type": "IAMUser",
        "principalId": user["UserId"],
        "arn": user["Arn"],
        "accountId": ACCOUNT,
        "accessKeyId": user_exported.id,
        "userName": user_name,
    }
    assert who["sessionContext"]["attributes"]["mfaAuthenticated"] == "false"
    assert who["sessionContext"]["attributes"]["creationDate"].endswith("Z")
