"""Helpers for the IAM Identity Center tests (test_identity_center*.py): an organization made with
moto's Organizations (the default account ACCOUNT is its management account, so its instance is
the organization instance), its members reached through OrganizationAccountAccessRole, permission
sets, identity store users and groups, and requests waited for until they leave IN_PROGRESS; the
unsigned portal and OIDC clients pointed at the local endpoint, and the device code sign-in with
the approval control endpoint standing for the browser.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from conftest import REGION, Aws, Keys, assume, unique

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
RESERVED_PATH = "/aws-reserved/sso.amazonaws.com/"


def policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ALLOW_S3 = policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})


def control(aws: Aws, path: str, body=None, raw: bytes | None = None) -> tuple[int, dict]:
    """GET (no body) or POST a /moto-api/cib/... control endpoint."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(aws.endpoint + path, data=data, method="GET" if data is None else "POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def unsigned(aws: Aws, service: str):
    return boto3.client(service, region_name=REGION, endpoint_url=aws.endpoint, config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))


@dataclass
class Center:
    aws: Aws
    instance_arn: str
    store_id: str
    members: list[str] = field(default_factory=list)

    @property
    def sso(self):
        return self.aws.client("sso-admin", self.aws.admin)

    @property
    def ids(self):
        return self.aws.client("identitystore", self.aws.admin)

    @property
    def start_url(self) -> str:
        return f"https://{self.store_id}.awsapps.com/start"


def organization(aws: Aws, members: int = 2) -> Center:
    """ACCOUNT's organization (made if missing) and `members` new member accounts, as the local
    runner seeds them: Organizations CreateAccount, then SSO Admin ListInstances."""
    orgs = aws.client("organizations", aws.admin)
    try:
        orgs.describe_organization()
    except orgs.exceptions.AWSOrganizationsNotInUseException:
        orgs.create_organization(FeatureSet="ALL")
    accounts = []
    for _ in range(members):
        name = unique("acct")
        accounts.append(orgs.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]["AccountId"])
    instance = aws.client("sso-admin", aws.admin).list_instances()["Instances"][0]
    return Center(aws, instance["InstanceArn"], instance["IdentityStoreId"], accounts)


def member_keys(aws: Aws, account: str) -> Keys:
    return assume(aws, aws.admin, f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", unique("seed"))


def permission_set(center: Center, inline: str | None = ALLOW_S3, name: str | None = None, **kwargs) -> tuple[str, str]:
    """(ARN, name) of a new permission set with that inline policy."""
    name = name or unique("ps")[:32]
    arn = center.sso.create_permission_set(InstanceArn=center.instance_arn, Name=name, **kwargs)["PermissionSet"]["PermissionSetArn"]
    if inline is not None:
        center.sso.put_inline_policy_to_permission_set(InstanceArn=center.instance_arn, PermissionSetArn=arn, InlinePolicy=inline)
    return arn, name


def user(center: Center, name: str | None = None) -> tuple[str, str]:
    """(UserId, UserName) of a new identity store user, created as the local runner will."""
    name = name or unique("user")
    user_id = center.ids.create_user(
        IdentityStoreId=center.store_id,
        UserName=name,
        DisplayName=name,
        Name={"GivenName": "Given", "FamilyName": "Family"},
        Emails=[{"Value": f"{name}@example.com", "Type": "work", "Primary": True}],
    )["UserId"]
    return user_id, name


def group(center: Center, *user_ids: str) -> str:
    group_id = center.ids.create_group(IdentityStoreId=center.store_id, DisplayName=unique("group"))["GroupId"]
    for user_id in user_ids:
        center.ids.create_group_membership(IdentityStoreId=center.store_id, GroupId=group_id, MemberId={"UserId": user_id})
    return group_id


def wait(describe, answer_key: str, timeout: float = 20.0, **kwargs) -> dict:
    """Polls a Describe...Status call until its request leaves IN_PROGRESS; returns the status."""
    deadline = time.monotonic() + timeout
    while True:
        status = describe(**kwargs)[answer_key]
        if status["Status"] != "IN_PROGRESS" or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def assign(center: Center, ps_arn: str, account: str, principal_id: str, principal_type: str = "USER", wait_for: bool = True) -> dict:
    status = center.sso.create_account_assignment(
        InstanceArn=center.instance_arn, TargetId=account, TargetType="AWS_ACCOUNT", PermissionSetArn=ps_arn, PrincipalType=principal_type, PrincipalId=principal_id
    )["AccountAssignmentCreationStatus"]
    if not wait_for:
        return status
    return wait(center.sso.describe_account_assignment_creation_status, "AccountAssignmentCreationStatus", InstanceArn=center.instance_arn, AccountAssignmentCreationRequestId=status["RequestId"])


def unassign(center: Center, ps_arn: str, account: str, principal_id: str, principal_type: str = "USER", wait_for: bool = True) -> dict:
    status = center.sso.delete_account_assignment(
        InstanceArn=center.instance_arn, TargetId=account, TargetType="AWS_ACCOUNT", PermissionSetArn=ps_arn, PrincipalType=principal_type, PrincipalId=principal_id
    )["AccountAssignmentDeletionStatus"]
    if not wait_for:
        return status
    return wait(center.sso.describe_account_assignment_deletion_status, "AccountAssignmentDeletionStatus", InstanceArn=center.instance_arn, AccountAssignmentDeletionRequestId=status["RequestId"])


def provision(center: Center, ps_arn: str, account: str | None = None, wait_for: bool = True) -> dict:
    target = {"TargetType": "AWS_ACCOUNT", "TargetId": account} if account else {"TargetType": "ALL_PROVISIONED_ACCOUNTS"}
    status = center.sso.provision_permission_set(InstanceArn=center.instance_arn, PermissionSetArn=ps_arn, **target)["PermissionSetProvisioningStatus"]
    if not wait_for:
        return status
    return wait(center.sso.describe_permission_set_provisioning_status, "PermissionSetProvisioningStatus", InstanceArn=center.instance_arn, ProvisionPermissionSetRequestId=status["RequestId"])


def reserved_roles(aws: Aws, account: str, ps_name: str | None = None, keys: Keys | None = None) -> list[dict]:
    """The account's AWSReservedSSO_ roles (of that permission set), read with IAM in the account."""
    iam = aws.client("iam", keys or member_keys(aws, account))
    roles = iam.list_roles(PathPrefix=RESERVED_PATH)["Roles"]
    prefix = f"AWSReservedSSO_{ps_name}_" if ps_name else "AWSReservedSSO_"
    return [r for r in roles if r["RoleName"].startswith(prefix)]


# --- Signing in: OIDC device code, portal --------------------------------------------------------


def device_authorization(center: Center, grant_types: list[str] | None = None) -> tuple[dict, dict]:
    """(client registration, device authorization) as the AWS CLI starts `aws sso login`."""
    oidc = unsigned(center.aws, "sso-oidc")
    extra = {"grantTypes": grant_types} if grant_types else {}
    client = oidc.register_client(clientName=unique("botocore-client"), clientType="public", **extra)
    device = oidc.start_device_authorization(clientId=client["clientId"], clientSecret=client["clientSecret"], startUrl=center.start_url)
    return client, device


def approve(center: Center, user_code: str, user_name: str) -> tuple[int, dict]:
    return control(center.aws, "/moto-api/cib/sso/device/approve", {"UserCode": user_code, "IdentityStoreId": center.store_id, "UserName": user_name})


def create_token(aws: Aws, client: dict, device: dict) -> dict:
    return unsigned(aws, "sso-oidc").create_token(clientId=client["clientId"], clientSecret=client["clientSecret"], grantType=DEVICE_GRANT, deviceCode=device["deviceCode"])


def sign_in(center: Center, user_name: str) -> str:
    """The user's portal access token: device authorization, approval, CreateToken."""
    client, device = device_authorization(center)
    assert approve(center, device["userCode"], user_name)[0] == 200
    return create_token(center.aws, client, device)["accessToken"]


def role_credentials(aws: Aws, token: str, account: str, role_name: str) -> Keys:
    c = unsigned(aws, "sso").get_role_credentials(accessToken=token, accountId=account, roleName=role_name)["roleCredentials"]
    return Keys(c["accessKeyId"], c["secretAccessKey"], c["sessionToken"])
