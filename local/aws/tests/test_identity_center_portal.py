"""The AWS access portal (`identity_center_portal`) and the role sessions it hands out, end to end
on the real server: users sign in with the OIDC device code flow (`identity_center_oidc`, the
approval control endpoint standing for the browser), fetch credentials with the SSO client as the
SDKs' SSO credential providers do, and use them; the broker's revocation deny (identitystore:userId,
aws:PrincipalAccount, aws:TokenIssueTime) is provisioned and read back as the broker will; the
pinned AWS CLI v1 signs in through a profile.

Cases from AWS's documentation:
- Portal API Reference: GetRoleCredentials "Returns the STS short-term credentials for a given role
  name that is assigned to the user", ListAccounts, ListAccountRoles, Logout ("After user logout,
  any existing IAM role sessions that were created by using IAM Identity Center permission sets
  continue based on the duration configured in the permission set"); a role not assigned is
  ForbiddenException "No access" (the answer reported in ministryofjustice/modernisation-platform
  #10161), a bad token UnauthorizedException;
- "Prepare to revoke an active IAM role session created by a permission set" and "Revoke active IAM
  role sessions created by permission sets" (prereqs-revoking-user-permissions.html,
  revoke-user-permissions.html): denies conditioned on identitystore:userId; aws:TokenIssueTime and
  aws:PrincipalAccount (IAM User Guide, global condition context keys);
- "Configure the AWS CLI to use IAM Identity Center" (the profile's sso_start_url, sso_region,
  sso_account_id, sso_role_name) and the service-specific endpoint setting AWS_ENDPOINT_URL_SSO
  ("Service-specific endpoints", AWS SDKs and Tools Reference Guide).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError
from conftest import ACCOUNT, Aws, Keys, code, unique
from identity_center import (
    RESERVED_PATH,
    approve,
    assign,
    control,
    create_token,
    device_authorization,
    group,
    member_keys,
    organization,
    permission_set,
    policy,
    provision,
    reserved_roles,
    role_credentials,
    sign_in,
    unassign,
    unsigned,
    user,
)

LOCAL_AWS_ENV = {"CIB_LOCAL_SSO_PROVISION_MS": "200", "CIB_LOCAL_CLOUDTRAIL_RATE": "0"}
ALLOW = {"Effect": "Allow", "Action": ["s3:ListAllMyBuckets", "sts:GetCallerIdentity", "cloudtrail:LookupEvents"], "Resource": "*"}


@pytest.fixture(scope="module")
def center(aws):
    return organization(aws, members=2)


def refused(call, **kwargs) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"], code(e), e.value.response["Error"]["Message"]


def lists_buckets(aws: Aws, keys: Keys) -> bool:
    try:
        aws.client("s3", keys).list_buckets()
        return True
    except ClientError as e:
        assert e.response["Error"]["Code"] == "AccessDenied", e
        return False


def portal_get(aws: Aws, path: str, token: str) -> tuple[int, dict, dict]:
    """A raw portal GET: (status, headers, body)."""
    request = urllib.request.Request(aws.endpoint + path, headers={"x-amz-sso_bearer_token": token})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"{}")


@pytest.fixture(scope="module")
def granted(aws, center):
    """A permission set assigned to alice in both members, to bob in the first; both signed in."""
    ps_arn, ps_name = permission_set(center, inline=policy(ALLOW), SessionDuration="PT2H")
    (alice, alice_name), (bob, bob_name) = user(center), user(center)
    first, second = center.members
    for principal, account in ((alice, first), (bob, first), (alice, second)):
        assert assign(center, ps_arn, account, principal)["Status"] == "SUCCEEDED"
    return {
        "ps": (ps_arn, ps_name),
        "alice": (alice, alice_name, sign_in(center, alice_name)),
        "bob": (bob, bob_name, sign_in(center, bob_name)),
    }


# --- Credentials ------------------------------------------------------------------------------------


def test_portal_credentials_are_a_session_of_the_reserved_role(aws, center, granted):
    ps_arn, ps_name = granted["ps"]
    alice, alice_name, token = granted["alice"]
    account = center.members[0]
    before = time.time()
    answer = unsigned(aws, "sso").get_role_credentials(accessToken=token, accountId=account, roleName=ps_name)["roleCredentials"]
    # expiration in milliseconds since the epoch: now + the permission set's PT2H.
    assert abs(answer["expiration"] / 1000 - (before + 7200)) < 60
    keys = Keys(answer["accessKeyId"], answer["secretAccessKey"], answer["sessionToken"])
    [role] = reserved_roles(aws, account, ps_name)
    identity = aws.client("sts", keys).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{account}:assumed-role/{role['RoleName']}/{alice_name}"
    assert identity["UserId"] == f"{role['RoleId']}:{alice_name}"
    assert identity["Account"] == account
    assert lists_buckets(aws, keys)  # the permission set's Allow
    assert refused(aws.client("iam", keys).list_roles)[1] == "AccessDenied"  # nothing else
    # CloudTrail history of the member records the session's calls as AssumedRole.
    events = aws.client("cloudtrail", keys).lookup_events(LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": keys.id}])["Events"]
    record = json.loads(next(e for e in events if e["EventName"] == "ListBuckets")["CloudTrailEvent"])
    assert record["userIdentity"]["type"] == "AssumedRole"
    assert record["userIdentity"]["arn"] == identity["Arn"]


def test_unassigned_roles_and_accounts_are_refused(aws, center, granted):
    _, ps_name = granted["ps"]
    _, _, bob_token = granted["bob"]
    sso = unsigned(aws, "sso")
    assert refused(sso.get_role_credentials, accessToken=bob_token, accountId=center.members[1], roleName=ps_name) == (403, "ForbiddenException", "No access")
    assert refused(sso.get_role_credentials, accessToken=bob_token, accountId=center.members[0], roleName="NotAssigned") == (403, "ForbiddenException", "No access")
    assert refused(sso.get_role_credentials, accessToken=bob_token, accountId=ACCOUNT, roleName=ps_name) == (403, "ForbiddenException", "No access")
    assert refused(sso.get_role_credentials, accessToken="aoa-not-a-token", accountId=center.members[0], roleName=ps_name) == (
        401, "UnauthorizedException", "Session token not found or invalid"
    )
    assert [a["accountId"] for a in sso.list_accounts(accessToken=bob_token)["accountList"]] == [center.members[0]]
    assert sso.list_account_roles(accessToken=bob_token, accountId=center.members[1])["roleList"] == []
    assert sso.list_account_roles(accessToken=bob_token, accountId=center.members[0])["roleList"] == [{"roleName": ps_name, "accountId": center.members[0]}]


def test_accounts_and_roles_are_listed_in_pages(aws, center, granted):
    _, _, token = granted["alice"]
    sso = unsigned(aws, "sso")
    everything = sso.list_accounts(accessToken=token)["accountList"]
    assert sorted(a["accountId"] for a in everything) == sorted(center.members)
    assert all(a["accountName"].startswith("acct-") and a["emailAddress"].endswith("@example.com") for a in everything)
    first = sso.list_accounts(accessToken=token, maxResults=1)
    second = sso.list_accounts(accessToken=token, maxResults=1, nextToken=first["nextToken"])
    assert first["accountList"] + second["accountList"] == everything and "nextToken" not in second
    assert refused(sso.list_accounts, accessToken=token, nextToken="made-up")[1] == "InvalidRequestException"
    for bad in ("0", "101", "x"):
        status, headers, _ = portal_get(aws, f"/assignment/accounts?max_result={bad}", token)
        assert (status, headers.get("x-amzn-ErrorType")) == (400, "InvalidRequestException"), bad


def test_a_group_assignment_gives_its_members_access(aws, center):
    ps_arn, ps_name = permission_set(center, inline=policy(ALLOW))
    carol, carol_name = user(center)
    team = group(center, carol)
    account = center.members[1]
    assert assign(center, ps_arn, account, team, principal_type="GROUP")["Status"] == "SUCCEEDED"
    token = sign_in(center, carol_name)
    assert lists_buckets(aws, role_credentials(aws, token, account, ps_name))
    membership = center.ids.list_group_memberships_for_member(IdentityStoreId=center.store_id, MemberId={"UserId": carol})["GroupMemberships"][0]
    center.ids.delete_group_membership(IdentityStoreId=center.store_id, MembershipId=membership["MembershipId"])
    assert refused(unsigned(aws, "sso").get_role_credentials, accessToken=token, accountId=account, roleName=ps_name)[1] == "ForbiddenException"


def test_a_deleted_assignment_gives_no_new_credentials_and_its_role_goes_with_the_last(aws, center):
    ps_arn, ps_name = permission_set(center, inline=policy(ALLOW))
    (dave, dave_name), (erin, _) = user(center), user(center)
    account = center.members[0]
    for principal in (dave, erin):
        assert assign(center, ps_arn, account, principal)["Status"] == "SUCCEEDED"
    token = sign_in(center, dave_name)
    before = role_credentials(aws, token, account, ps_name)
    started = unassign(center, ps_arn, account, dave, wait_for=False)
    assert started["Status"] == "IN_PROGRESS"
    role_credentials(aws, token, account, ps_name)  # still assigned until the deletion succeeds
    time.sleep(0.4)
    assert refused(unsigned(aws, "sso").get_role_credentials, accessToken=token, accountId=account, roleName=ps_name)[1] == "ForbiddenException"
    assert lists_buckets(aws, before)  # erin keeps the role: the session still works
    assert unassign(center, ps_arn, account, erin)["Status"] == "SUCCEEDED"
    assert reserved_roles(aws, account, ps_name) == []
    assert not lists_buckets(aws, before)  # its role is gone: the session has no permissions left


def test_logout_ends_the_sign_in_not_the_credentials(aws, center):
    ps_arn, ps_name = permission_set(center, inline=policy(ALLOW))
    frank, frank_name = user(center)
    account = center.members[1]
    assert assign(center, ps_arn, account, frank)["Status"] == "SUCCEEDED"
    token = sign_in(center, frank_name)
    keys = role_credentials(aws, token, account, ps_name)
    sso = unsigned(aws, "sso")
    sso.logout(accessToken=token)
    for call, kwargs in ((sso.list_accounts, {}), (sso.list_account_roles, {"accountId": account}), (sso.get_role_credentials, {"accountId": account, "roleName": ps_name}), (sso.logout, {})):
        assert refused(call, accessToken=token, **kwargs)[:2] == (401, "UnauthorizedException"), call
    assert lists_buckets(aws, keys)  # "existing IAM role sessions [...] continue"


def test_a_deleted_user_is_signed_out(aws, center):
    ps_arn, ps_name = permission_set(center, inline=policy(ALLOW))
    gina, gina_name = user(center)
    assert assign(center, ps_arn, center.members[0], gina)["Status"] == "SUCCEEDED"
    token = sign_in(center, gina_name)
    center.ids.delete_user(IdentityStoreId=center.store_id, UserId=gina)
    assert refused(unsigned(aws, "sso").list_accounts, accessToken=token)[1] == "UnauthorizedException"


def test_portal_credentials_sign_in_to_the_console(aws, center, granted):
    _, ps_name = granted["ps"]
    _, alice_name, token = granted["alice"]
    keys = role_credentials(aws, token, center.members[0], ps_name)
    status, signin = control(aws, "/moto-api/cib/federation/signin-token", {"sessionId": keys.id, "sessionKey": keys.secret, "sessionToken": keys.token})
    assert status == 200
    status, console = control(aws, "/moto-api/cib/console/login", {"SigninToken": signin["SigninToken"]})
    assert status == 200
    status, exported = control(aws, "/moto-api/cib/console/export-credentials", {"ConsoleSessionId": console["ConsoleSessionId"]})
    assert status == 200
    cloudshell = Keys(exported["AccessKeyId"], exported["SecretAccessKey"], exported["SessionToken"])
    assert aws.client("sts", cloudshell).get_caller_identity()["Arn"].endswith(f"/{alice_name}")


# --- The broker's revocation ---------------------------------------------------------------------


def test_the_revocation_deny_cuts_that_user_in_that_account_before_that_time(aws, center, granted):
    ps_arn, ps_name = granted["ps"]
    alice, _, alice_token = granted["alice"]
    _, _, bob_token = granted["bob"]
    first, second = center.members
    alice_first = role_credentials(aws, alice_token, first, ps_name)
    alice_second = role_credentials(aws, alice_token, second, ps_name)
    bob_first = role_credentials(aws, bob_token, first, ps_name)
    for keys in (alice_first, alice_second, bob_first):
        assert lists_buckets(aws, keys)

    # The end of the grant: the next whole second (the broker writes whole seconds).
    end = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=1)
    deny = {
        "Sid": "CibRevoke0",
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {
            "StringEquals": {"identitystore:userId": alice, "aws:PrincipalAccount": first},
            "DateLessThan": {"aws:TokenIssueTime": end.strftime("%Y-%m-%dT%H:%M:%SZ")},
        },
    }
    center.sso.put_inline_policy_to_permission_set(InstanceArn=center.instance_arn, PermissionSetArn=ps_arn, InlinePolicy=policy(ALLOW, deny))
    assert lists_buckets(aws, alice_first)  # not provisioned yet
    assert provision(center, ps_arn)["Status"] == "SUCCEEDED"  # ALL_PROVISIONED_ACCOUNTS: both members
    # Read back through a role the broker assumes in the member, until the deny shows.
    iam = aws.client("iam", member_keys(aws, first))
    role_name = reserved_roles(aws, first, ps_name)[0]["RoleName"]
    document = iam.get_role_policy(RoleName=role_name, PolicyName="AwsSSOInlinePolicy")["PolicyDocument"]
    assert deny in document["Statement"]

    assert not lists_buckets(aws, alice_first)  # that user, that account, issued before the end
    assert lists_buckets(aws, bob_first)  # another user
    assert lists_buckets(aws, alice_second)  # another account (aws:PrincipalAccount)
    while dt.datetime.now(dt.timezone.utc) < end:
        time.sleep(0.05)
    alice_after = role_credentials(aws, alice_token, first, ps_name)
    assert lists_buckets(aws, alice_after)  # issued after the end


# --- Routing ------------------------------------------------------------------------------------------


def test_only_unsigned_portal_and_oidc_requests_are_taken_from_moto(aws):
    # A bucket named like the portal's path is still S3's, signed or not.
    s3 = aws.client("s3", aws.admin)
    s3.create_bucket(Bucket="federation")
    s3.put_object(Bucket="federation", Key="credentials", Body=b"s3 object")
    assert s3.get_object(Bucket="federation", Key="credentials")["Body"].read() == b"s3 object"
    request = urllib.request.Request(aws.endpoint + "/federation/credentials")  # no bearer token
    try:
        with urllib.request.urlopen(request) as answer:
            status, headers = answer.status, dict(answer.headers)
    except urllib.error.HTTPError as e:
        status, headers = e.code, dict(e.headers)
    assert "x-amzn-ErrorType" not in headers and status != 401  # S3 answered, not the portal
    status, _, body = portal_get(aws, "/federation/credentials?account_id=123456789012&role_name=x", "bad")
    assert status == 401 and body == {"message": "Session token not found or invalid"}


# --- The AWS CLI ------------------------------------------------------------------------------------


def test_the_aws_cli_signs_in_with_an_sso_profile(aws, center, granted):
    _, ps_name = granted["ps"]
    _, alice_name, _ = granted["alice"]
    account = center.members[0]
    # `aws sso login` (AWS CLI v2; v1 has no such command) runs the device flow and caches the
    # token under ~/.aws/sso/cache/<sha1 of the start URL>.json; the profile points at it.
    client, device = device_authorization(center)
    assert approve(center, device["userCode"], alice_name)[0] == 200
    token = create_token(aws, client, device)
    with tempfile.TemporaryDirectory() as home:
        os.makedirs(os.path.join(home, ".aws", "sso", "cache"))
        expires = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=token["expiresIn"])).strftime("%Y-%m-%dT%H:%M:%SZ")
        cache = os.path.join(home, ".aws", "sso", "cache", hashlib.sha1(center.start_url.encode()).hexdigest() + ".json")
        with open(cache, "w") as f:
            json.dump({"startUrl": center.start_url, "region": "us-east-1", "accessToken": token["accessToken"], "expiresAt": expires}, f)
        with open(os.path.join(home, ".aws", "config"), "w") as f:
            f.write(
                f"[profile broker]\nsso_start_url = {center.start_url}\nsso_region = us-east-1\n"
                f"sso_account_id = {account}\nsso_role_name = {ps_name}\nregion = us-east-1\n"
            )
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(HOME=home, AWS_ENDPOINT_URL_SSO=aws.endpoint, AWS_ENDPOINT_URL_STS=aws.endpoint)
        out = subprocess.run(
            [sys.executable, "-m", "awscli", "sts", "get-caller-identity", "--profile", "broker", "--output", "json"],
            env=env, capture_output=True, text=True, timeout=120,
        )
        assert out.returncode == 0, out.stderr
        role_name = reserved_roles(aws, account, ps_name)[0]["RoleName"]
        assert json.loads(out.stdout)["Arn"] == f"arn:aws:sts::{account}:assumed-role/{role_name}/{alice_name}"
        # The same through the profile's `services` section instead of the environment.
        with open(os.path.join(home, ".aws", "config"), "a") as f:
            f.write(
                f"[profile configured]\nsso_start_url = {center.start_url}\nsso_region = us-east-1\n"
                f"sso_account_id = {account}\nsso_role_name = {ps_name}\nregion = us-east-1\nservices = local\n"
                f"[services local]\nsso =\n  endpoint_url = {aws.endpoint}\nsts =\n  endpoint_url = {aws.endpoint}\n"
            )
        plain = {k: v for k, v in env.items() if not k.startswith("AWS_ENDPOINT_URL")}
        out = subprocess.run([sys.executable, "-m", "awscli", "sts", "get-caller-identity", "--profile", "configured"], env=plain, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["Arn"].endswith(f"/{role_name}/{alice_name}")
        # A role the user does not have: the CLI reports the portal's answer.
        with open(os.path.join(home, ".aws", "config"), "a") as f:
            f.write(f"[profile other]\nsso_start_url = {center.start_url}\nsso_region = us-east-1\nsso_account_id = {account}\nsso_role_name = Nope\n")
        out = subprocess.run([sys.executable, "-m", "awscli", "sts", "get-caller-identity", "--profile", "other"], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode != 0 and "ForbiddenException" in out.stderr and "No access" in out.stderr
    assert RESERVED_PATH in reserved_roles(aws, account, ps_name)[0]["Arn"]
