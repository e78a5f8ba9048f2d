"""IAM Identity Center account assignments and provisioning (`identity_center_admin`,
`identity_center_provisioning`, `identity_center_roles`), end to end on the real server with the
default provisioning delay (CIB_LOCAL_SSO_PROVISION_MS unset: 1,000 ms). The default account is an
organization's management account, so its instance is the organization instance; its members are
made with Organizations' CreateAccount and read with IAM through OrganizationAccountAccessRole.

Cases from AWS's documentation:
- API_CreateAccountAssignment.html, API_DeleteAccountAssignment.html, API_ProvisionPermissionSet.html
  and the Describe...Status pages: requests answer IN_PROGRESS, the status is read with Describe;
  "If the permission set is subsequently updated, the corresponding IAM policies attached to roles
  in your accounts will not be updated automatically. In this case, you must call
  ProvisionPermissionSet";
- referencingpermissionsets.html: the role `AWSReservedSSO_<permission-set-name>_<unique-suffix>`
  at `/aws-reserved/sso.amazonaws.com/` (no Region for an instance in us-east-1); "If you delete all
  assignments to this permission set in the AWS account, the corresponding role [...] is also
  deleted. If you make a new assignment [...] later, IAM Identity Center creates a new role [...]
  with a different, unique suffix";
- howtocmp.html: "IAM Identity Center fails to assign the permission set if the policy doesn't exist
  in your member account"; limits.html: permission sets follow IAM's quotas ("a quota of 10
  managed policies per role"), an inline policy has at most 32,768 bytes and 10,240 non-white-space;
- IAM User Guide: roles IAM Identity Center created cannot be edited: UnmodifiableEntity (the answer
  reported in rebuy-de/aws-nuke#441);
- identity-center-instances.html: only the management account's instance has multi-account
  permissions.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
from botocore.exceptions import ClientError
from conftest import ACCOUNT, LAUNCH, OTHER, code, unique
from identity_center import (
    ALLOW_S3,
    RESERVED_PATH,
    assign,
    control,
    member_keys,
    organization,
    permission_set,
    policy,
    provision,
    reserved_roles,
    unassign,
    user,
    wait,
)

PROVISIONING = "/moto-api/cib/sso/provisioning"
PROTECTED = "Cannot perform the operation on the protected role '{0}' - this role is only modifiable by AWS"
CONFLICT = "There is a conflicting operation in process."
DENY_EC2 = policy({"Effect": "Deny", "Action": "ec2:*", "Resource": "*"}, {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})


@pytest.fixture(scope="module")
def center(aws):
    return organization(aws, members=3)


def refused(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    return code(e), e.value.response["Error"]["Message"]


def assignments(center, ps_arn, account) -> set[str]:
    listed = center.sso.list_account_assignments(InstanceArn=center.instance_arn, AccountId=account, PermissionSetArn=ps_arn)
    return {a["PrincipalId"] for a in listed["AccountAssignments"]}


# --- Assignments make the role, only when SUCCEEDED -------------------------------------------------


def test_an_assignment_is_in_progress_then_succeeds_and_only_then_makes_the_role(aws, center):
    account = center.members[0]
    ps_arn, ps_name = permission_set(center, SessionDuration="PT2H")
    center.sso.attach_managed_policy_to_permission_set(
        InstanceArn=center.instance_arn, PermissionSetArn=ps_arn, ManagedPolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess"
    )
    user_id, _ = user(center)
    keys = member_keys(aws, account)

    started = assign(center, ps_arn, account, user_id, wait_for=False)
    assert started["Status"] == "IN_PROGRESS"
    assert {k: started[k] for k in ("TargetId", "TargetType", "PermissionSetArn", "PrincipalType", "PrincipalId")} == {
        "TargetId": account, "TargetType": "AWS_ACCOUNT", "PermissionSetArn": ps_arn, "PrincipalType": "USER", "PrincipalId": user_id,
    }
    described = center.sso.describe_account_assignment_creation_status(
        InstanceArn=center.instance_arn, AccountAssignmentCreationRequestId=started["RequestId"]
    )["AccountAssignmentCreationStatus"]
    assert described["Status"] == "IN_PROGRESS"
    assert reserved_roles(aws, account, ps_name, keys) == []  # not before SUCCEEDED
    assert assignments(center, ps_arn, account) == set()  # nor listed
    for_user = dict(InstanceArn=center.instance_arn, PrincipalId=user_id, PrincipalType="USER")
    assert center.sso.list_account_assignments_for_principal(**for_user)["AccountAssignments"] == []

    done = wait(
        center.sso.describe_account_assignment_creation_status,
        "AccountAssignmentCreationStatus",
        InstanceArn=center.instance_arn,
        AccountAssignmentCreationRequestId=started["RequestId"],
    )
    assert done["Status"] == "SUCCEEDED" and "FailureReason" not in done
    assert assignments(center, ps_arn, account) == {user_id}
    assert center.sso.list_account_assignments_for_principal(**for_user)["AccountAssignments"] == [
        {"AccountId": account, "PermissionSetArn": ps_arn, "PrincipalId": user_id, "PrincipalType": "USER"}
    ]

    [role] = reserved_roles(aws, account, ps_name, keys)
    assert re.fullmatch(rf"AWSReservedSSO_{re.escape(ps_name)}_[0-9a-f]{{16}}", role["RoleName"])
    assert role["Path"] == RESERVED_PATH  # us-east-1: no Region in the path
    assert role["Arn"] == f"arn:aws:iam::{account}:role{RESERVED_PATH}{role['RoleName']}"
    assert role["MaxSessionDuration"] == 7200  # the permission set's PT2H
    [statement] = role["AssumeRolePolicyDocument"]["Statement"]
    provider = statement["Principal"]["Federated"]
    assert re.fullmatch(rf"arn:aws:iam::{account}:saml-provider/AWSSSO_[0-9a-f]{{16}}_DO_NOT_DELETE", provider)
    assert statement["Action"] == ["sts:AssumeRoleWithSAML", "sts:TagSession"]
    iam = aws.client("iam", keys)
    assert provider in {p["Arn"] for p in iam.list_saml_providers()["SAMLProviderList"]}
    assert iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"] == ["AwsSSOInlinePolicy"]
    document = iam.get_role_policy(RoleName=role["RoleName"], PolicyName="AwsSSOInlinePolicy")["PolicyDocument"]
    assert document == json.loads(ALLOW_S3)
    attached = iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == ["arn:aws:iam::aws:policy/ReadOnlyAccess"]


def test_users_share_one_role_and_the_last_deletion_removes_it(aws, center):
    account = center.members[1]
    ps_arn, ps_name = permission_set(center)
    (alice, _), (bob, _) = user(center), user(center)
    keys = member_keys(aws, account)
    assert assign(center, ps_arn, account, alice)["Status"] == "SUCCEEDED"
    [first] = reserved_roles(aws, account, ps_name, keys)
    assert assign(center, ps_arn, account, bob)["Status"] == "SUCCEEDED"
    assert reserved_roles(aws, account, ps_name, keys) == [first]  # one role for both
    assert assignments(center, ps_arn, account) == {alice, bob}

    deletion = unassign(center, ps_arn, account, alice, wait_for=False)
    assert deletion["Status"] == "IN_PROGRESS"
    assert assignments(center, ps_arn, account) == {alice, bob}  # deletion in progress: still there
    done = wait(
        center.sso.describe_account_assignment_deletion_status,
        "AccountAssignmentDeletionStatus",
        InstanceArn=center.instance_arn,
        AccountAssignmentDeletionRequestId=deletion["RequestId"],
    )
    assert done["Status"] == "SUCCEEDED"
    assert assignments(center, ps_arn, account) == {bob}
    assert reserved_roles(aws, account, ps_name, keys) == [first]  # bob still has it

    assert unassign(center, ps_arn, account, bob)["Status"] == "SUCCEEDED"
    assert reserved_roles(aws, account, ps_name, keys) == []  # the last one: the role goes
    assert center.sso.list_permission_sets_provisioned_to_account(InstanceArn=center.instance_arn, AccountId=account)["PermissionSets"] == []

    assert assign(center, ps_arn, account, alice)["Status"] == "SUCCEEDED"
    [again] = reserved_roles(aws, account, ps_name, keys)
    assert again["RoleName"] != first["RoleName"]  # "a different, unique suffix"


def test_a_second_request_on_the_same_permission_set_and_account_conflicts(aws, center):
    ps_arn, _ = permission_set(center)
    (alice, _), (bob, _) = user(center), user(center)
    account, other = center.members[0], center.members[1]
    first = assign(center, ps_arn, account, alice, wait_for=False)
    assert refused(
        center.sso.create_account_assignment,
        InstanceArn=center.instance_arn, TargetId=account, TargetType="AWS_ACCOUNT", PermissionSetArn=ps_arn, PrincipalType="USER", PrincipalId=bob,
    ) == ("ConflictException", CONFLICT)
    assert refused(
        center.sso.provision_permission_set, InstanceArn=center.instance_arn, PermissionSetArn=ps_arn, TargetType="AWS_ACCOUNT", TargetId=account
    ) == ("ConflictException", CONFLICT)
    assert refused(center.sso.delete_permission_set, InstanceArn=center.instance_arn, PermissionSetArn=ps_arn)[0] == "ConflictException"
    assert assign(center, ps_arn, other, bob)["Status"] == "SUCCEEDED"  # another account: no conflict
    wait(center.sso.describe_account_assignment_creation_status, "AccountAssignmentCreationStatus", InstanceArn=center.instance_arn, AccountAssignmentCreationRequestId=first["RequestId"])
    assert assign(center, ps_arn, account, bob)["Status"] == "SUCCEEDED"  # once the first is done
    # A permission set with assignments cannot be deleted.
    assert refused(center.sso.delete_permission_set, InstanceArn=center.instance_arn, PermissionSetArn=ps_arn)[0] == "ConflictException"


# --- Provisioning -----------------------------------------------------------------------------------


def test_provisioning_changes_the_roles_only_when_it_succeeds(aws, center):
    first, second = center.members[0], center.members[2]
    ps_arn, ps_name = permission_set(center)
    user_id, _ = user(center)
    for account in (first, second):
        assert assign(center, ps_arn, account, user_id)["Status"] == "SUCCEEDED"
    iam = {account: aws.client("iam", member_keys(aws, account)) for account in (first, second)}
    name = {account: reserved_roles(aws, account, ps_name)[0]["RoleName"] for account in (first, second)}

    center.sso.put_inline_policy_to_permission_set(InstanceArn=center.instance_arn, PermissionSetArn=ps_arn, InlinePolicy=DENY_EC2)
    center.sso.update_permission_set(InstanceArn=center.instance_arn, PermissionSetArn=ps_arn, SessionDuration="PT4H")
    described = center.sso.describe_permission_set(InstanceArn=center.instance_arn, PermissionSetArn=ps_arn)["PermissionSet"]
    assert described["SessionDuration"] == "PT4H"
    # Not provisioned yet: the roles keep what they had.
    for account in (first, second):
        assert iam[account].get_role_policy(RoleName=name[account], PolicyName="AwsSSOInlinePolicy")["PolicyDocument"] == json.loads(ALLOW_S3)

    started = provision(center, ps_arn, first, wait_for=False)
    assert started["Status"] == "IN_PROGRESS" and started["AccountId"] == first
    assert iam[first].get_role_policy(RoleName=name[first], PolicyName="AwsSSOInlinePolicy")["PolicyDocument"] == json.loads(ALLOW_S3)
    done = wait(center.sso.describe_permission_set_provisioning_status, "PermissionSetProvisioningStatus", InstanceArn=center.instance_arn, ProvisionPermissionSetRequestId=started["RequestId"])
    assert done["Status"] == "SUCCEEDED"
    assert iam[first].get_role_policy(RoleName=name[first], PolicyName="AwsSSOInlinePolicy")["PolicyDocument"] == json.loads(DENY_EC2)
    assert iam[first].get_role(RoleName=name[first])["Role"]["MaxSessionDuration"] == 4 * 3600
    # Only the account targeted.
    assert iam[second].get_role_policy(RoleName=name[second], PolicyName="AwsSSOInlinePolicy")["PolicyDocument"] == json.loads(ALLOW_S3)

    everywhere = provision(center, ps_arn)  # ALL_PROVISIONED_ACCOUNTS
    assert everywhere["Status"] == "SUCCEEDED" and "AccountId" not in everywhere
    assert iam[second].get_role_policy(RoleName=name[second], PolicyName="AwsSSOInlinePolicy")["PolicyDocument"] == json.loads(DENY_EC2)
    assert reserved_roles(aws, second, ps_name)[0]["RoleName"] == name[second]  # the same role, updated
    accounts = center.sso.list_accounts_for_provisioned_permission_set(InstanceArn=center.instance_arn, PermissionSetArn=ps_arn)["AccountIds"]
    assert sorted(accounts) == sorted([first, second])


def test_provisioning_to_an_account_without_assignment_makes_the_role(aws, center):
    # hashicorp/terraform-provider-aws#32006: provisioning alone creates the role in the account.
    account = center.members[2]
    ps_arn, ps_name = permission_set(center)
    assert provision(center, ps_arn, account)["Status"] == "SUCCEEDED"
    assert len(reserved_roles(aws, account, ps_name)) == 1
    assert ps_arn in center.sso.list_permission_sets_provisioned_to_account(InstanceArn=center.instance_arn, AccountId=account)["PermissionSets"]


# --- The reserved role cannot be edited -------------------------------------------------------------


def test_the_reserved_role_refuses_every_iam_change_and_answers_reads(aws, center):
    account = center.members[0]
    ps_arn, ps_name = permission_set(center)
    user_id, _ = user(center)
    assert assign(center, ps_arn, account, user_id)["Status"] == "SUCCEEDED"
    iam = aws.client("iam", member_keys(aws, account))  # the account's administrator
    name = reserved_roles(aws, account, ps_name)[0]["RoleName"]
    iam.create_instance_profile(InstanceProfileName=unique("profile"))
    profile = iam.list_instance_profiles()["InstanceProfiles"][0]["InstanceProfileName"]
    changes = {
        "PutRolePolicy": (iam.put_role_policy, {"PolicyName": "x", "PolicyDocument": ALLOW_S3}),
        "DeleteRolePolicy": (iam.delete_role_policy, {"PolicyName": "AwsSSOInlinePolicy"}),
        "AttachRolePolicy": (iam.attach_role_policy, {"PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
        "DetachRolePolicy": (iam.detach_role_policy, {"PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
        "UpdateAssumeRolePolicy": (iam.update_assume_role_policy, {"PolicyDocument": policy({"Effect": "Allow", "Principal": {"AWS": account}, "Action": "sts:AssumeRole"})}),
        "UpdateRole": (iam.update_role, {"MaxSessionDuration": 43200}),
        "UpdateRoleDescription": (iam.update_role_description, {"Description": "mine"}),
        "DeleteRole": (iam.delete_role, {}),
        "PutRolePermissionsBoundary": (iam.put_role_permissions_boundary, {"PermissionsBoundary": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
        "DeleteRolePermissionsBoundary": (iam.delete_role_permissions_boundary, {}),
        "TagRole": (iam.tag_role, {"Tags": [{"Key": "k", "Value": "v"}]}),
        "UntagRole": (iam.untag_role, {"TagKeys": ["k"]}),
        "AddRoleToInstanceProfile": (iam.add_role_to_instance_profile, {"InstanceProfileName": profile}),
    }
    for call_name, (call, kwargs) in changes.items():
        assert refused(call, RoleName=name, **kwargs) == ("UnmodifiableEntity", PROTECTED.format(name)), call_name
    # Reads as for any role; nothing changed.
    assert iam.get_role(RoleName=name)["Role"]["MaxSessionDuration"] == 3600
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["AwsSSOInlinePolicy"]
    assert iam.get_role_policy(RoleName=name, PolicyName="AwsSSOInlinePolicy")["PolicyDocument"] == json.loads(ALLOW_S3)
    assert iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == []
    # Nor can it be assumed with AssumeRole: its trust names only the SAML provider.
    sts = aws.client("sts", member_keys(aws, account))
    assert refused(sts.assume_role, RoleArn=f"arn:aws:iam::{account}:role{RESERVED_PATH}{name}", RoleSessionName="someone")[0] == "AccessDenied"


# --- Failures ---------------------------------------------------------------------------------------


def test_a_missing_customer_managed_policy_fails_the_assignment(aws, center):
    account = center.members[1]
    ps_arn, ps_name = permission_set(center)
    policy_name = unique("cmp")
    center.sso.attach_customer_managed_policy_reference_to_permission_set(
        InstanceArn=center.instance_arn, PermissionSetArn=ps_arn, CustomerManagedPolicyReference={"Name": policy_name, "Path": "/cib/"}
    )
    user_id, _ = user(center)
    failed = assign(center, ps_arn, account, user_id)
    assert failed["Status"] == "FAILED"
    assert failed["FailureReason"] == f"Received a 404 status error: Policy arn:aws:iam::{account}:policy/cib/{policy_name} does not exist or is not attachable."
    assert reserved_roles(aws, account, ps_name) == [] and assignments(center, ps_arn, account) == set()

    iam = aws.client("iam", member_keys(aws, account))
    arn = iam.create_policy(PolicyName=policy_name, Path="/cib/", PolicyDocument=ALLOW_S3)["Policy"]["Arn"]
    assert assign(center, ps_arn, account, user_id)["Status"] == "SUCCEEDED"
    [role] = reserved_roles(aws, account, ps_name)
    assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]] == [arn]


def test_more_managed_policies_than_a_role_takes_fail_the_provisioning(aws, center):
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    names = [n for n, d in json.loads(aws_managed_policies_data).items() if d.get("Path") == "/"][:11]
    account = center.members[2]
    ps_arn, ps_name = permission_set(center)
    for name in names:
        center.sso.attach_managed_policy_to_permission_set(InstanceArn=center.instance_arn, PermissionSetArn=ps_arn, ManagedPolicyArn=f"arn:aws:iam::aws:policy/{name}")
    user_id, _ = user(center)
    failed = assign(center, ps_arn, account, user_id)
    assert (failed["Status"], failed["FailureReason"]) == ("FAILED", "Received a 409 status error: Cannot exceed quota for PoliciesPerRole: 10")
    assert reserved_roles(aws, account, ps_name) == []
    center.sso.detach_managed_policy_from_permission_set(InstanceArn=center.instance_arn, PermissionSetArn=ps_arn, ManagedPolicyArn=f"arn:aws:iam::aws:policy/{names[0]}")
    assert assign(center, ps_arn, account, user_id)["Status"] == "SUCCEEDED"  # ten fit
    # Provisioning an eleventh fails and leaves the role as it was.
    center.sso.attach_managed_policy_to_permission_set(InstanceArn=center.instance_arn, PermissionSetArn=ps_arn, ManagedPolicyArn=f"arn:aws:iam::aws:policy/{names[0]}")
    failed = provision(center, ps_arn, account)
    assert (failed["Status"], failed["FailureReason"]) == ("FAILED", "Received a 409 status error: Cannot exceed quota for PoliciesPerRole: 10")
    iam = aws.client("iam", member_keys(aws, account))
    attached = iam.list_attached_role_policies(RoleName=reserved_roles(aws, account, ps_name)[0]["RoleName"])["AttachedPolicies"]
    assert len(attached) == 10


def test_targets_outside_the_organization_and_unknown_principals_fail(aws, center):
    ps_arn, _ = permission_set(center)
    user_id, _ = user(center)
    failed = assign(center, ps_arn, OTHER, user_id)
    assert failed["Status"] == "FAILED" and OTHER in failed["FailureReason"]
    unknown = "00000000-0000-4000-8000-000000000000"
    failed = assign(center, ps_arn, center.members[0], unknown)
    assert failed["Status"] == "FAILED" and unknown in failed["FailureReason"]
    for target in ("abcdefghijkl", "12345678901x"):  # (botocore checks the length itself)
        assert refused(
            center.sso.create_account_assignment,
            InstanceArn=center.instance_arn, TargetId=target, TargetType="AWS_ACCOUNT", PermissionSetArn=ps_arn, PrincipalType="USER", PrincipalId=user_id,
        )[0] == "ValidationException"
    assert refused(
        center.sso.create_account_assignment,
        InstanceArn=center.instance_arn, TargetId=center.members[0], TargetType="AWS_ACCOUNT", PermissionSetArn=ps_arn, PrincipalType="USER", PrincipalId="jane",
    )[0] == "ValidationException"
    assert refused(
        center.sso.delete_account_assignment,
        InstanceArn=center.instance_arn, TargetId=center.members[0], TargetType="AWS_ACCOUNT", PermissionSetArn=ps_arn, PrincipalType="USER", PrincipalId=user_id,
    )[0] == "ResourceNotFoundException"
    assert refused(center.sso.describe_account_assignment_creation_status, InstanceArn=center.instance_arn, AccountAssignmentCreationRequestId="00000000-0000-0000-0000-000000000000")[0] == "ResourceNotFoundException"


# --- Permission sets ----------------------------------------------------------------------------------


def test_inline_policies_are_checked_as_aws_checks_them(aws, center):
    ps_arn, _ = permission_set(center, inline=None)

    def put(document):
        return refused(center.sso.put_inline_policy_to_permission_set, InstanceArn=center.instance_arn, PermissionSetArn=ps_arn, InlinePolicy=document)

    def statements(count):  # each about 100 characters that are not white space
        return [{"Sid": f"S{i:05d}", "Effect": "Deny", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::bucket-{i:05d}/*"} for i in range(count)]

    big = json.dumps({"Version": "2012-10-17", "Statement": statements(120)}, separators=(",", ":"))
    assert len(big) > 10_240
    error, message = put(big)
    assert error == "ValidationException"
    assert message == (
        f"Current size of the non-whitespace characters present in the InlinePolicy Document is {len(big)} bytes "
        "which has exceeded the maximum limit of 10240 bytes"
    )
    fits = json.dumps({"Version": "2012-10-17", "Statement": statements(80)}, indent=12)  # white space not counted
    assert len(fits) > 10_240
    center.sso.put_inline_policy_to_permission_set(InstanceArn=center.instance_arn, PermissionSetArn=ps_arn, InlinePolicy=fits)
    assert put(ALLOW_S3 + " " * 32_768)[0] == "ValidationException"  # past 32,768 characters
    for malformed in ("not json", json.dumps({"Version": "2012-10-17"}), policy({"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"StringEqualz": {"aws:username": "x"}}})):
        assert put(malformed) == ("ValidationException", "Invalid PermissionsPolicy Document")


def test_permission_set_session_durations_and_names(aws, center):
    arn, name = permission_set(center, inline=None)
    described = center.sso.describe_permission_set(InstanceArn=center.instance_arn, PermissionSetArn=arn)["PermissionSet"]
    assert described["SessionDuration"] == "PT1H"  # the default
    center.sso.update_permission_set(InstanceArn=center.instance_arn, PermissionSetArn=arn, Description="kept")
    described = center.sso.describe_permission_set(InstanceArn=center.instance_arn, PermissionSetArn=arn)["PermissionSet"]
    assert (described["SessionDuration"], described["Description"]) == ("PT1H", "kept")  # only what is given changes
    permission_set(center, inline=None, SessionDuration="PT12H")
    for bad in ("PT13H", "PT30M", "P1D", "1h", "PT"):
        with pytest.raises(ClientError) as e:
            permission_set(center, inline=None, SessionDuration=bad)
        assert code(e) == "ValidationException", bad
    assert refused(center.sso.create_permission_set, InstanceArn=center.instance_arn, Name=name) == ("ConflictException", f"PermissionSet with name {name} already exists.")
    assert refused(center.sso.create_permission_set, InstanceArn=center.instance_arn, Name="has space")[0] == "ValidationException"


def test_an_account_instance_has_no_multi_account_permissions(aws):
    # OTHER manages no organization: its instance is an account instance.
    sso = aws.client("sso-admin", aws.other_admin)
    instance = sso.list_instances()["Instances"][0]["InstanceArn"]
    assert refused(sso.create_permission_set, InstanceArn=instance, Name="Dev") == (
        "ValidationException", "The operation is not supported for an account instance of IAM Identity Center."
    )


def test_a_delegated_administrator_manages_the_organization_instance_but_not_the_management_account(aws, center):
    # delegated-admin-how-to-register.html: the delegated administrator "can perform all IAM Identity
    # Center administrative tasks from the account, except for [...] Managing permission sets
    # provisioned in the management account [...] Enabling or disabling user access in the
    # management account".
    orgs = aws.client("organizations", aws.admin)
    delegate = organization(aws, members=1).members[0]
    orgs.register_delegated_administrator(AccountId=delegate, ServicePrincipal="sso.amazonaws.com")
    keys = member_keys(aws, delegate)
    sso, ids = aws.client("sso-admin", keys), aws.client("identitystore", keys)
    [instance] = sso.list_instances()["Instances"]
    assert (instance["InstanceArn"], instance["IdentityStoreId"], instance["OwnerAccountId"]) == (center.instance_arn, center.store_id, ACCOUNT)
    user_id = ids.create_user(IdentityStoreId=center.store_id, UserName=unique("delegated"), DisplayName="D", Name={"GivenName": "G", "FamilyName": "F"})["UserId"]
    assert user_id in {u["UserId"] for u in center.ids.list_users(IdentityStoreId=center.store_id)["Users"]}  # the same store
    ps_arn = sso.create_permission_set(InstanceArn=center.instance_arn, Name=unique("dlg")[:32])["PermissionSet"]["PermissionSetArn"]
    sso.put_inline_policy_to_permission_set(InstanceArn=center.instance_arn, PermissionSetArn=ps_arn, InlinePolicy=ALLOW_S3)
    started = sso.create_account_assignment(
        InstanceArn=center.instance_arn, TargetId=center.members[0], TargetType="AWS_ACCOUNT", PermissionSetArn=ps_arn, PrincipalType="USER", PrincipalId=user_id
    )["AccountAssignmentCreationStatus"]
    done = wait(sso.describe_account_assignment_creation_status, "AccountAssignmentCreationStatus", InstanceArn=center.instance_arn, AccountAssignmentCreationRequestId=started["RequestId"])
    assert done["Status"] == "SUCCEEDED"
    refusal = "A delegated administrator cannot manage permission sets provisioned in the management account, nor assign access to it."
    assert refused(
        sso.create_account_assignment,
        InstanceArn=center.instance_arn, TargetId=ACCOUNT, TargetType="AWS_ACCOUNT", PermissionSetArn=ps_arn, PrincipalType="USER", PrincipalId=user_id,
    ) == ("AccessDeniedException", refusal)
    assert refused(sso.provision_permission_set, InstanceArn=center.instance_arn, PermissionSetArn=ps_arn, TargetType="AWS_ACCOUNT", TargetId=ACCOUNT) == ("AccessDeniedException", refusal)
    # A permission set the management account provisioned to itself is out of the delegate's reach.
    assert provision(center, ps_arn, ACCOUNT)["Status"] == "SUCCEEDED"
    assert refused(sso.put_inline_policy_to_permission_set, InstanceArn=center.instance_arn, PermissionSetArn=ps_arn, InlinePolicy=DENY_EC2) == ("AccessDeniedException", refusal)
    assert refused(sso.update_permission_set, InstanceArn=center.instance_arn, PermissionSetArn=ps_arn, SessionDuration="PT2H") == ("AccessDeniedException", refusal)
    center.sso.put_inline_policy_to_permission_set(InstanceArn=center.instance_arn, PermissionSetArn=ps_arn, InlinePolicy=DENY_EC2)  # the management account may


# --- The delay ------------------------------------------------------------------------------------------


def test_the_provisioning_delay_endpoint_and_environment(aws, center):
    from cib_local_aws import identity_center_provisioning as provisioning

    assert control(aws, PROVISIONING) == (200, {"Milliseconds": 1_000})  # the default
    for raw in (b"not json", b"[]", b"{}", b'{"Milliseconds": "5"}', b'{"Milliseconds": -1}', b'{"Milliseconds": 1.5}', b'{"Milliseconds": 600001}'):
        status, body = control(aws, PROVISIONING, raw=raw)
        assert status == 400 and body["message"], raw
    ps_arn, ps_name = permission_set(center)
    user_id, _ = user(center)
    assert control(aws, PROVISIONING, {"Milliseconds": 60_000}) == (200, {"Milliseconds": 60_000})
    try:
        started = assign(center, ps_arn, center.members[2], user_id, wait_for=False)
        time.sleep(1.2)
        status = center.sso.describe_account_assignment_creation_status(InstanceArn=center.instance_arn, AccountAssignmentCreationRequestId=started["RequestId"])
        assert status["AccountAssignmentCreationStatus"]["Status"] == "IN_PROGRESS"
    finally:
        assert control(aws, PROVISIONING, {"Milliseconds": 0}) == (200, {"Milliseconds": 0})  # completes it now
    status = center.sso.describe_account_assignment_creation_status(InstanceArn=center.instance_arn, AccountAssignmentCreationRequestId=started["RequestId"])
    assert status["AccountAssignmentCreationStatus"]["Status"] == "SUCCEEDED"
    assert len(reserved_roles(aws, center.members[2], ps_name)) == 1
    # 0: requests complete as they are made.
    assert unassign(center, ps_arn, center.members[2], user_id, wait_for=False)["Status"] == "SUCCEEDED"
    assert control(aws, PROVISIONING, {"Milliseconds": 1_000}) == (200, {"Milliseconds": 1_000})

    assert provisioning.delay_from_environment({}) == 1_000
    assert provisioning.delay_from_environment({provisioning.ENV: " "}) == 1_000
    assert provisioning.delay_from_environment({provisioning.ENV: "0"}) == 0
    assert provisioning.delay_from_environment({provisioning.ENV: "600000"}) == 600_000
    for bad in ("-1", "1.5", "soon", "600001"):
        with pytest.raises(ValueError, match=provisioning.ENV):
            provisioning.delay_from_environment({provisioning.ENV: bad})


@pytest.mark.parametrize("value", ["-1", "600001", "soon"])
def test_a_malformed_provisioning_delay_stops_the_server(value):
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="0", CIB_LOCAL_SSO_PROVISION_MS=value)
    proc = subprocess.Popen([sys.executable, LAUNCH, "0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd="/")
    try:
        returncode = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the server did not stop")
    finally:
        proc.stdin.close()
    stderr = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert returncode != 0
    assert b"local AWS: CIB_LOCAL_SSO_PROVISION_MS must be a whole number of milliseconds" in stderr


# --- Pure parts ---------------------------------------------------------------------------------------


def test_iso_8601_session_durations():
    from cib_local_aws.identity_center_admin import duration_seconds

    cases = {"PT1H": 3600, "PT12H": 43200, "PT90M": 5400, "PT1H30M": 5400, "PT3600S": 3600, "P0DT2H": 7200, "P1D": 86400, "P1W": 604800}
    for text, seconds in cases.items():
        assert duration_seconds(text) == seconds, text
    for text in ("1h", "PT", "P1Y", "P1M", "-PT1H", "PT1.5S", "", None, 3600):
        assert duration_seconds(text) is None, text


def test_a_role_inline_policy_over_iams_quota_fails_before_the_role_is_touched():
    # PutInlinePolicyToPermissionSet already refuses more than 10,240 characters that are not white
    # space, so this guard only matters if the two counts ever differ: the role's inline policies
    # together may not pass IAM's 10,240 (policy_limits), and the request fails with IAM's words.
    from types import SimpleNamespace

    from cib_local_aws.identity_center_roles import ProvisioningFailed, Snapshot, _check

    iam = SimpleNamespace(managed_policies={}, partition="aws", account_id="111122223333")
    document = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::" + "b" * 10_300}]})
    with pytest.raises(ProvisioningFailed) as e:
        _check(iam, Snapshot("Dev", 3600, document, (), ()), "AWSReservedSSO_Dev_0123456789abcdef")
    assert e.value.reason == "Received a 409 status error: Maximum policy size of 10240 bytes exceeded for role AWSReservedSSO_Dev_0123456789abcdef"
    assert _check(iam, Snapshot("Dev", 3600, ALLOW_S3, (), ()), "AWSReservedSSO_Dev_0123456789abcdef") == []
