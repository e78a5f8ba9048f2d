"""The IAM roles IAM Identity Center makes in the accounts a permission set is provisioned to, and
IAM's refusal to let anyone else change them.

moto's SSO Admin makes no role anywhere. From AWS's documentation:

- "Referencing permission sets in resource policies, Amazon EKS, and AWS KMS"
  (referencingpermissionsets.html): "When you assign a permission set to an AWS account, IAM
  Identity Center creates a role with a name that begins with AWSReservedSSO_", named
  `AWSReservedSSO_<permission-set-name>_<unique-suffix>` (16 hexadecimal digits in the page's
  examples, 1234567890abcdef) with the ARN
  `arn:aws:iam::<account>:role/aws-reserved/sso.amazonaws.com/<aws-region>/AWSReservedSSO_...`;
  "If your identity source in IAM Identity Center is hosted in us-east-1, there is no aws-region in
  the ARN". So the path is `/aws-reserved/sso.amazonaws.com/` for an instance in us-east-1 and
  `/aws-reserved/sso.amazonaws.com/<region>/` otherwise. "If you delete all assignments to this
  permission set in the AWS account, the corresponding role that IAM Identity Center created is
  also deleted. If you make a new assignment to the same permission set later, IAM Identity Center
  creates a new role for the permission set. The name and ARN of the new role include a different,
  unique suffix."
- "Permission sets" (permissionsetsconcept.html): they "ultimately get created as IAM roles in a
  given AWS account, with trust policies that allow users to assume the role through" IAM
  Identity Center. The trust policy is the one IAM Identity Center writes: the account's SAML
  provider `AWSSSO_<16 hex>_DO_NOT_DELETE` (made here with the first role of an instance in the
  account), actions sts:AssumeRoleWithSAML and sts:TagSession, condition `SAML:aud` =
  `https://signin.aws.amazon.com/saml` (as such roles show it; AWS's pages do not print it). No
  IAM principal is named, so AssumeRole into the role is refused (`enforcement`).
- The role's MaxSessionDuration is the permission set's SessionDuration ("Set session duration",
  howtosessionduration.html); its inline policy, named `AwsSSOInlinePolicy` (the name such roles
  carry, e.g. aws-samples/bulk-policy-migrator-scripts-for-account-cost-billing-consoles#9), is the
  permission set's; the AWS managed policies of the permission set are attached, and so are its
  customer managed policy references, resolved in the account: "IAM Identity Center fails to
  assign the permission set if the policy doesn't exist in your member account" ("Use IAM policies
  in permission sets", howtocmp.html). AWS managed policies exist in every account: one moto has
  not loaded (MOTO_IAM_LOAD_MANAGED_POLICIES) is added to the account's IAM from moto's copy of
  them when a role needs it.
- Quotas (limits.html): permission sets "follow IAM quotas", e.g. "a quota of 10 managed policies
  per role"; the role's inline policies together at most 10,240 characters (`policy_limits`).
  Past them provisioning fails (see below), and the role is left as it was: every check is made
  before the role is touched.
- IAM User Guide ("Revoke IAM role temporary security credentials"): "You can't edit roles in IAM
  that were created" by IAM Identity Center. IAM answers every change to such a role, by anyone
  (PutRolePolicy, DeleteRolePolicy, AttachRolePolicy, DetachRolePolicy, UpdateAssumeRolePolicy,
  UpdateRole, UpdateRoleDescription, DeleteRole, PutRolePermissionsBoundary,
  DeleteRolePermissionsBoundary, TagRole, UntagRole, AddRoleToInstanceProfile) with
  UnmodifiableEntity (HTTP 400) "Cannot perform the operation on the protected role '<name>' - this
  role is only modifiable by AWS" (AWS's answer as reported in rebuy-de/aws-nuke#441 and #1028,
  perkbox/cloud-access-bot#11, aws-samples/bulk-policy-migrator...#9), after authorization. Reads
  (GetRole, GetRolePolicy, ListRolePolicies, ListAttachedRolePolicies...) are answered as for any
  role. A role is protected because IAM Identity Center made it, not for its name.

A failure is reported in IAM Identity Center's status (FailureReason) in the form AWS reports IAM's
refusals, "Received a <HTTP status> status error: <IAM's message>" (as quoted in
awslabs/landing-zone-accelerator-on-aws#496); the messages are IAM's own (LimitExceeded "Cannot
exceed quota for PoliciesPerRole: 10", "Maximum policy size of 10240 bytes exceeded for role
<name>"; NoSuchEntity "Policy <arn> does not exist or is not attachable.").
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass

from . import iam_quotas, policy_limits

ROLE_PREFIX = "AWSReservedSSO_"
PATH_ROOT = "/aws-reserved/sso.amazonaws.com/"
INLINE_POLICY_NAME = "AwsSSOInlinePolicy"
SAML_AUDIENCE = "https://signin.aws.amazon.com/saml"
PROTECTED = "Cannot perform the operation on the protected role '{0}' - this role is only modifiable by AWS"
PROTECTED_CALLS = (
    "put_role_policy",
    "delete_role_policy",
    "attach_role_policy",
    "detach_role_policy",
    "update_assume_role_policy",
    "update_role",
    "update_role_description",
    "delete_role",
    "put_role_permissions_boundary",
    "delete_role_permissions_boundary",
    "tag_role",
    "untag_role",
    "add_role_to_instance_profile",
)


class ProvisioningFailed(Exception):
    """A role could not be made or updated: `reason` is the status' FailureReason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Snapshot:
    """What of a permission set a provisioning writes to the role (as it was when requested)."""

    name: str
    session_seconds: int
    inline_policy: str  # "" for none
    managed: tuple[str, ...]  # AWS managed policy ARNs
    customer: tuple[tuple[str, str], ...]  # customer managed policy references: (path, name)


def snapshot(permission_set) -> Snapshot:
    from .identity_center_admin import session_seconds

    return Snapshot(
        name=permission_set.name,
        session_seconds=session_seconds(permission_set),
        inline_policy=permission_set.inline_policy or "",
        managed=tuple(p.arn for p in permission_set.managed_policies),
        customer=tuple((p.path or "/", p.name) for p in permission_set.customer_managed_policies),
    )


def role_path(region: str) -> str:
    return PATH_ROOT if region == "us-east-1" else f"{PATH_ROOT}{region}/"


def is_reserved(role) -> bool:
    return bool(getattr(role, "cib_identity_center", False))


def _iam(account: str, partition: str):
    from moto.iam.models import iam_backends

    return iam_backends[account][partition]


def _suffix() -> str:
    return secrets.token_hex(8)


_saml_lock = threading.Lock()
_saml: dict[tuple[str, str], str] = {}  # (account, instance ARN) → SAML provider name


def saml_provider_arn(iam, instance_arn: str) -> str:
    """The account's `AWSSSO_<hex>_DO_NOT_DELETE` provider for this instance (made if missing)."""
    with _saml_lock:
        name = _saml.get((iam.account_id, instance_arn))
        if name is None or name not in iam.saml_providers:
            name = f"AWSSSO_{_suffix()}_DO_NOT_DELETE"
            iam.create_saml_provider(name, "<EntityDescriptor/>")  # IAM Identity Center's metadata
            _saml[(iam.account_id, instance_arn)] = name
        return iam.saml_providers[name].arn


def trust_policy(provider_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
                    "Condition": {"StringEquals": {"SAML:aud": SAML_AUDIENCE}},
                }
            ],
        }
    )


def _aws_managed_policy(iam, arn: str):
    """The AWS managed policy `arn` in this account's IAM, added from moto's copy if not loaded."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data
    from moto.iam.models import AWSManagedPolicy

    for policy in iam.managed_policies.values():
        if policy.arn == arn:
            return policy
    name = arn.rsplit("/", 1)[-1]
    data = json.loads(aws_managed_policies_data).get(name)
    if data is None:
        return None
    policy = AWSManagedPolicy.from_data(name, iam.account_id, iam.region_name, data)
    if policy.arn != arn:
        return None
    iam.managed_policies[policy.arn] = policy
    return policy


def _customer_policy_arn(iam, path: str, name: str) -> str:
    return f"arn:{iam.partition}:iam::{iam.account_id}:policy{path}{name}"


def _http_status(exc) -> int:
    code = getattr(exc, "code", "")
    return {"NoSuchEntity": 404, "LimitExceeded": 409, "EntityAlreadyExists": 409}.get(code, 400)


def _refused(exc) -> ProvisioningFailed:
    message = getattr(exc, "message", None) or str(exc)
    return ProvisioningFailed(f"Received a {_http_status(exc)} status error: {message}")


def _check(iam, snap: Snapshot, role_name: str) -> list[str]:
    """Everything that would make the provisioning fail, before the role is touched; returns the
    managed policy ARNs to attach."""
    wanted: list[str] = []
    for arn in snap.managed:
        if _aws_managed_policy(iam, arn) is None:
            raise ProvisioningFailed(f"Received a 404 status error: Policy {arn} does not exist or is not attachable.")
        wanted.append(arn)
    for path, name in snap.customer:
        arn = _customer_policy_arn(iam, path, name)
        if not any(p.arn == arn for p in iam.managed_policies.values()):
            raise ProvisioningFailed(f"Received a 404 status error: Policy {arn} does not exist or is not attachable.")
        wanted.append(arn)
    limit = iam_quotas.MANAGED_POLICIES_PER["role"]
    if len(set(wanted)) > limit:
        raise ProvisioningFailed(f"Received a 409 status error: Cannot exceed quota for {iam_quotas.QUOTA_NAMES['role']}: {limit}")
    inline_max = policy_limits.INLINE_MAX["role"]
    if snap.inline_policy and policy_limits.size(snap.inline_policy) > inline_max:
        raise ProvisioningFailed(f"Received a 409 status error: Maximum policy size of {inline_max} bytes exceeded for role {role_name}")
    return wanted


def provision(account: str, partition: str, region: str, instance_arn: str, snap: Snapshot, role_name: str | None):
    """Makes (role_name None, or the role gone) or updates the account's role of the permission set
    so that it holds `snap`. Returns the role; ProvisioningFailed leaves the account as it was."""
    iam = _iam(account, partition)
    role = None
    if role_name is not None:
        role = next((r for r in list(iam.roles.values()) if r.name == role_name and is_reserved(r)), None)
    name = role.name if role is not None else f"{ROLE_PREFIX}{snap.name}_{_suffix()}"
    wanted = _check(iam, snap, name)
    try:
        if role is None:
            role = iam.create_role(
                role_name=name,
                assume_role_policy_document=trust_policy(saml_provider_arn(iam, instance_arn)),
                path=role_path(region),
                permissions_boundary=None,
                description="",
                tags=[],
                max_session_duration=str(snap.session_seconds),
            )
            role.cib_identity_center = True
        role.max_session_duration = str(snap.session_seconds)
        if snap.inline_policy:
            iam.put_role_policy(role.name, INLINE_POLICY_NAME, snap.inline_policy)
        elif INLINE_POLICY_NAME in role.policies:
            iam.delete_role_policy(role.name, INLINE_POLICY_NAME)
        for arn in list(role.managed_policies):
            if arn not in wanted:
                iam.detach_role_policy(arn, role.name)
        for arn in wanted:
            iam.attach_role_policy(arn, role.name)
    except ProvisioningFailed:
        raise
    except Exception as e:  # IAM refused (checked above, so not expected)
        raise _refused(e) from None
    return role


def remove(account: str, partition: str, role_name: str) -> None:
    """Deletes the account's role (its policies first), if it is still there."""
    iam = _iam(account, partition)
    role = next((r for r in list(iam.roles.values()) if r.name == role_name and is_reserved(r)), None)
    if role is None:
        return
    for arn in list(role.managed_policies):
        iam.detach_role_policy(arn, role.name)
    for policy_name in list(role.policies):
        iam.delete_role_policy(role.name, policy_name)
    iam.delete_role(role.name)


def find_role(account: str, partition: str, role_name: str):
    iam = _iam(account, partition)
    return next((r for r in list(iam.roles.values()) if r.name == role_name and is_reserved(r)), None)


def clear() -> None:
    with _saml_lock:
        _saml.clear()


def apply() -> None:
    from moto.iam.exceptions import IAMException
    from moto.iam.responses import IamResponse

    class UnmodifiableEntity(IAMException):
        code = "UnmodifiableEntity"

    def protected(name: str, original):
        def call(self, _original=original):
            role_name = self._get_param("RoleName")
            if isinstance(role_name, str):
                role = next((r for r in list(self.backend.roles.values()) if r.name == role_name), None)
                if role is not None and is_reserved(role):
                    raise UnmodifiableEntity(PROTECTED.format(role_name))
            return _original(self)

        call.__name__ = name
        return call

    for name in PROTECTED_CALLS:
        setattr(IamResponse, name, protected(name, getattr(IamResponse, name)))
