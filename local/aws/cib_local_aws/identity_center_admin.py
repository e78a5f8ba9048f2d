"""IAM Identity Center's administration API as the broker and its local seed call it: which
instance may manage AWS account access, the checks its calls make before anything is queued, and
the lookups the other identity_center_* modules share (instances, identity stores, accounts of the
organization, permission set durations).

moto (5.2.1) makes an instance in every account and Region it is asked about, lets any of them hold
permission sets and assign them to any account, takes any SessionDuration and any inline policy,
and resets a permission set's SessionDuration, Description and RelayState to defaults on an
UpdatePermissionSet that leaves them out. From AWS's documentation:

- Instances ("Manage organization and account instances of IAM Identity Center",
  identity-center-instances.html): "Multi-account permissions" and "AWS access portal for
  single-sign on access to your AWS accounts" belong to the instance in the AWS Organizations
  management account only; an instance in a member account or a standalone account (an "account
  instance") has neither. Here moto's instance of an account that manages an organization (made
  with moto's Organizations, see `organizations_rules`) is its organization instance; the instance
  of any other account is an account instance, where CreatePermissionSet, CreateAccountAssignment
  and ProvisionPermissionSet are ValidationException "The operation is not supported for an
  account instance of IAM Identity Center." (AWS documents no error for it; the exception and its
  words are chosen here). An InstanceArn that is not the caller's instance:
  ResourceNotFoundException (chosen).
- Delegated administration ("Register a member account", delegated-admin-how-to-register.html):
  a member account registered with RegisterDelegatedAdministrator for sso.amazonaws.com (moto's
  Organizations did not accept that service principal) administers the management account's
  instance: its SSO Admin and Identity Store calls work on that instance and identity store (moto
  gave it an instance of its own). It can do everything "except for [...] Managing permission sets
  provisioned in the management account [...] Enabling or disabling user access in the management
  account": an assignment or provisioning that targets the management account, and any change to
  a permission set provisioned there (PutInlinePolicyToPermissionSet,
  DeleteInlinePolicyFromPermissionSet, Attach/Detach managed and customer managed policies,
  UpdatePermissionSet, DeletePermissionSet, ProvisionPermissionSet), are AccessDeniedException
  (the exception the API lists; its words are chosen here: "A delegated administrator cannot manage
  permission sets provisioned in the management account, nor assign access to it.").
- CreatePermissionSet (API_CreatePermissionSet.html): Name 1 to 32 characters of `[\\w+=,.@-]`;
  SessionDuration "The length of time that the application user sessions are valid in the
  ISO-8601 standard", pattern `(-?)P(?=\\d|T\\d)(?:(\\d+)Y)?(?:(\\d+)M)?(?:(\\d+)([DW]))?(?:T(?:(\\d+)H)?
  (?:(\\d+)M)?(?:(\\d+(?:\\.\\d+)?)S)?)?`, 1 to 100 characters; a permission set's session lasts
  from 1 to 12 hours ("Set session duration for AWS accounts", howtosessionduration.html), so
  anything else (PT30M, PT13H, P1D, a value that is not ISO 8601) is ValidationException; omitted,
  PT1H (the default "one hour"; moto stored the number 3600). A name already used in the instance:
  ConflictException "PermissionSet with name <name> already exists." (AWS's answer as reported in
  avlcloudtechnologies/terraform-aws-sso#6). UpdatePermissionSet changes only what it is given.
- PutInlinePolicyToPermissionSet (API_PutInlinePolicyToPermissionSet.html, type
  PermissionSetPolicyDocument: 1 to 32,768 characters of `[\\u0009\\u000A\\u000D\\u0020-\\u00FF]`;
  quotas page limits.html: "Maximum size of inline policy per permission set: 32,768 bytes.
  Maximum size of non-whitespace characters in the inline policy per permission set is 10,240
  bytes."): past 32,768 characters or with other characters, ValidationException in AWS's
  constraint wording; more than 10,240 characters that are not white space, ValidationException
  "Current size of the non-whitespace characters present in the InlinePolicy Document is <n> bytes
  which has exceeded the maximum limit of 10240 bytes" (AWS's answer as reported in
  LBHackney-IT/Data-Platform#2789); a document IAM would not take (not JSON, no statements,
  duplicate Sids, an unknown condition operator...: moto's IAM validator and `iam_quotas`' checks),
  ValidationException "Invalid PermissionsPolicy Document" (AWS's words as quoted in
  aws-cloudformation/cloudformation-coverage-roadmap#1294 and #1986).

The queueing of assignments and provisioning is `identity_center_provisioning`'s; the roles they
make are `identity_center_roles`'.
"""

from __future__ import annotations

import json
import re

ACCOUNT_INSTANCE = "The operation is not supported for an account instance of IAM Identity Center."
INVALID_POLICY = "Invalid PermissionsPolicy Document"
POLICY_MAX = 32_768
POLICY_NON_WHITESPACE_MAX = 10_240
SESSION_MIN, SESSION_MAX = 3_600, 43_200  # seconds: 1 to 12 hours
DEFAULT_SESSION_DURATION = "PT1H"
_NAME = re.compile(r"^[\w+=,.@-]{1,32}$")
_POLICY_CHARS = re.compile(r"^[\t\n\r\u0020-\u00ff]+$")
_DURATION = re.compile(
    r"^(-?)P(?=\d|T\d)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)([DW]))?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)
_WHITESPACE = re.compile(r"\s+")


def error(code: str, message: str):
    """An SSO Admin / Identity Store error (awsJson: `__type` and `message`, HTTP 400)."""
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(code, message)


def validation(message: str):
    return error("ValidationException", message)


# --- Durations ------------------------------------------------------------------------------------


def duration_seconds(text) -> int | None:
    """An ISO 8601 duration as whole seconds, or None if it is not one this API takes (years,
    months and negative durations have no fixed length and are never a session duration)."""
    if not isinstance(text, str) or not 1 <= len(text) <= 100:
        return None
    m = _DURATION.match(text)
    if m is None or m.group(1) or m.group(2) or m.group(3):
        return None
    days = int(m.group(4) or 0) * (7 if m.group(5) == "W" else 1)
    seconds = days * 86_400 + int(m.group(6) or 0) * 3_600 + int(m.group(7) or 0) * 60
    fraction = float(m.group(8) or 0)
    if fraction != int(fraction):
        return None
    return seconds + int(fraction)


def session_seconds(permission_set) -> int:
    """The permission set's SessionDuration in seconds (moto may hold the number 3600)."""
    value = permission_set.session_duration
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    seconds = duration_seconds(value)
    return seconds if seconds is not None else SESSION_MIN


def check_session_duration(value) -> str:
    seconds = duration_seconds(value)
    if seconds is None:
        raise validation(
            f"1 validation error detected: Value '{value}' at 'sessionDuration' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: (-?)P(?=\\d|T\\d)(?:(\\d+)Y)?(?:(\\d+)M)?(?:(\\d+)([DW]))?"
            "(?:T(?:(\\d+)H)?(?:(\\d+)M)?(?:(\\d+(?:\\.\\d+)?)S)?)?"
        )
    if not SESSION_MIN <= seconds <= SESSION_MAX:
        raise validation(f"The session duration {value} is not valid: a permission set's session lasts from 1 to 12 hours (PT1H to PT12H).")
    return value


# --- Policies -------------------------------------------------------------------------------------


def non_whitespace_size(document: str) -> int:
    return len(_WHITESPACE.sub("", document))


def check_inline_policy(document) -> None:
    """PutInlinePolicyToPermissionSet's InlinePolicy, as AWS checks it."""
    from moto.iam.policy_validation import IAMPolicyDocumentValidator

    from .iam_quotas import has_duplicate_sid
    from .policy_conditions import condition_syntax_error

    if not isinstance(document, str) or not 1 <= len(document) <= POLICY_MAX:
        length = len(document) if isinstance(document, str) else 0
        bound = "greater than or equal to 1" if length < 1 else f"less than or equal to {POLICY_MAX}"
        raise validation(f"1 validation error detected: Value at 'inlinePolicy' failed to satisfy constraint: Member must have length {bound}")
    if not _POLICY_CHARS.match(document):
        raise validation(
            "1 validation error detected: Value at 'inlinePolicy' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+"
        )
    size = non_whitespace_size(document)
    if size > POLICY_NON_WHITESPACE_MAX:
        raise validation(
            f"Current size of the non-whitespace characters present in the InlinePolicy Document is {size} bytes "
            f"which has exceeded the maximum limit of {POLICY_NON_WHITESPACE_MAX} bytes"
        )
    try:
        json.loads(document)
        IAMPolicyDocumentValidator(document).validate()
    except Exception:
        raise validation(INVALID_POLICY) from None
    if has_duplicate_sid(document) or condition_syntax_error(document):
        raise validation(INVALID_POLICY)


# --- Instances, organizations, identity stores ----------------------------------------------------


def management_organization(account_id: str, partition: str = "aws"):
    """The Organizations backend of the organization `account_id` manages, or None."""
    from moto.organizations.models import organizations_backends

    if account_id not in organizations_backends or partition not in organizations_backends[account_id]:
        return None
    backend = organizations_backends[account_id][partition]
    return backend if backend.org is not None and backend.org.master_account_id == account_id else None


def is_organization_instance(account_id: str, partition: str = "aws") -> bool:
    return management_organization(account_id, partition) is not None


def organization_account(management_account: str, account_id: str, partition: str = "aws"):
    """The organization's FakeAccount with this id (its closure state brought up to date), or None."""
    from . import organizations_rules

    backend = management_organization(management_account, partition)
    if backend is None:
        return None
    for account in list(backend.accounts):
        if account.id == account_id:
            organizations_rules.refresh(account)
            return account
    return None


def ssoadmin_backend(account_id: str, region: str):
    from moto.ssoadmin.models import ssoadmin_backends

    return ssoadmin_backends[account_id][region]


def existing_ssoadmin_backends():
    """(account, region, backend) of every SSO Admin backend made so far (none is created)."""
    from moto.ssoadmin.models import ssoadmin_backends

    for account, regions in list(ssoadmin_backends.items()):
        for region, backend in list(dict.items(regions)):
            yield account, region, backend


def find_instance_by_store(identity_store_id: str):
    """(account, region, backend, instance) of the organization instance whose identity store this
    is, or None."""
    for account, region, backend in existing_ssoadmin_backends():
        for instance in backend.instances:
            if instance.identity_store_id == identity_store_id and is_organization_instance(account, backend.partition):
                return account, region, backend, instance
    return None


def identity_store(account: str, region: str, identity_store_id: str):
    """moto's data of that identity store (users, groups, memberships), or None if never used."""
    from moto.identitystore.models import identitystore_backends

    if account not in identitystore_backends or region not in dict.keys(identitystore_backends[account]):
        return None
    return identitystore_backends[account][region].identity_stores.get(identity_store_id)


def groups_of(store, user_id: str) -> set[str]:
    """The ids of the groups the user is a member of."""
    if store is None:
        return set()
    return {m["GroupId"] for m in list(store.group_memberships.values()) if m["MemberId"].get("UserId") == user_id}


def principal_exists(store, principal_type: str, principal_id: str) -> bool:
    if store is None:
        return False
    if principal_type == "USER":
        return principal_id in store.users
    return principal_id in store.groups


def instance_of(backend, instance_arn):
    """The backend's instance with this ARN (ResourceNotFoundException otherwise)."""
    for instance in backend.instances:
        if instance.instance_arn == instance_arn:
            return instance
    raise error("ResourceNotFoundException", f"Could not find Instance with ARN {instance_arn}")


def require_organization_instance(response) -> None:
    """The caller's instance (InstanceArn) must be an organization instance."""
    backend = response.ssoadmin_backend
    instance_of(backend, response._get_param("InstanceArn"))
    if not is_organization_instance(backend.account_id, backend.partition):
        raise validation(ACCOUNT_INSTANCE)


# --- Delegated administration --------------------------------------------------------------------

SSO_PRINCIPAL = "sso.amazonaws.com"
DELEGATED_REFUSED = "A delegated administrator cannot manage permission sets provisioned in the management account, nor assign access to it."
# Calls that change a permission set: refused to a delegated administrator when it is provisioned
# to the management account.
PERMISSION_SET_CHANGES = (
    "put_inline_policy_to_permission_set",
    "delete_inline_policy_from_permission_set",
    "attach_managed_policy_to_permission_set",
    "detach_managed_policy_from_permission_set",
    "attach_customer_managed_policy_reference_to_permission_set",
    "detach_customer_managed_policy_reference_from_permission_set",
    "update_permission_set",
    "delete_permission_set",
    "provision_permission_set",
)


def delegating_management_account(account_id: str, partition: str = "aws") -> str | None:
    """The management account whose Identity Center `account_id` administers as the delegated
    administrator for sso.amazonaws.com, or None."""
    from .organizations_rules import _organization_of

    master = _organization_of(account_id, partition)
    if master is None or master.account_id == account_id:
        return None
    for admin in list(master.admins):
        if admin.account.id == account_id and SSO_PRINCIPAL in admin.services:
            return master.account_id
    return None


def is_delegated_caller(response) -> bool:
    return response.current_account != response.ssoadmin_backend.account_id


def check_delegated_target(response, account: str | None) -> None:
    """A delegated administrator may not assign access to, nor provision, the management account."""
    if is_delegated_caller(response) and account == response.ssoadmin_backend.account_id:
        raise error("AccessDeniedException", DELEGATED_REFUSED)


def _delegation_guard(name: str, original):
    def call(self, _original=original):
        if is_delegated_caller(self):
            from .identity_center_provisioning import provisioned_role

            instance_arn, ps_arn = self._get_param("InstanceArn"), self._get_param("PermissionSetArn")
            if provisioned_role(instance_arn, ps_arn, self.ssoadmin_backend.account_id) is not None:
                raise error("AccessDeniedException", DELEGATED_REFUSED)
        return _original(self)

    call.__name__ = name
    return call


def _apply_delegation() -> None:
    from moto.identitystore.models import identitystore_backends
    from moto.identitystore.responses import IdentityStoreResponse
    from moto.organizations.models import FakeDelegatedAdministrator
    from moto.ssoadmin.models import ssoadmin_backends
    from moto.ssoadmin.responses import SSOAdminResponse
    from moto.utilities.utils import get_partition

    if SSO_PRINCIPAL not in FakeDelegatedAdministrator.SUPPORTED_SERVICES:
        FakeDelegatedAdministrator.SUPPORTED_SERVICES = [*FakeDelegatedAdministrator.SUPPORTED_SERVICES, SSO_PRINCIPAL]

    def owner(self) -> str:
        return delegating_management_account(self.current_account, get_partition(self.region)) or self.current_account

    SSOAdminResponse.ssoadmin_backend = property(lambda self: ssoadmin_backends[owner(self)][self.region])
    IdentityStoreResponse.identitystore_backend = property(lambda self: identitystore_backends[owner(self)][self.region])


# --- The checked calls ----------------------------------------------------------------------------


def apply() -> None:
    from moto.ssoadmin.responses import SSOAdminResponse

    def create_permission_set(self):
        require_organization_instance(self)
        name = self._get_param("Name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise validation(
                f"1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: "
                "Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have length between 1 and 32"
            )
        backend = self.ssoadmin_backend
        instance_arn = self._get_param("InstanceArn")
        if any(ps.name == name and ps.instance_arn == instance_arn for ps in backend.permission_sets):
            raise error("ConflictException", f"PermissionSet with name {name} already exists.")
        duration = self._get_param("SessionDuration")
        duration = DEFAULT_SESSION_DURATION if duration is None else check_session_duration(duration)
        permission_set = backend.create_permission_set(
            name=name,
            description=self._get_param("Description"),
            instance_arn=instance_arn,
            session_duration=duration,
            relay_state=self._get_param("RelayState"),
            tags=self._get_param("Tags"),
        )
        return json.dumps({"PermissionSet": permission_set})

    SSOAdminResponse.create_permission_set = create_permission_set

    def update_permission_set(self):
        backend = self.ssoadmin_backend
        instance_arn, ps_arn = self._get_param("InstanceArn"), self._get_param("PermissionSetArn")
        permission_set = backend._find_permission_set(instance_arn, ps_arn)
        duration = self._get_param("SessionDuration")
        if duration is not None:
            check_session_duration(duration)
            permission_set.session_duration = duration
        for param, attribute in (("Description", "description"), ("RelayState", "relay_state")):
            value = self._get_param(param)
            if value is not None:
                setattr(permission_set, attribute, value)
        return "{}"

    SSOAdminResponse.update_permission_set = update_permission_set

    put_inline = SSOAdminResponse.put_inline_policy_to_permission_set

    def put_inline_policy_to_permission_set(self, _original=put_inline):
        backend = self.ssoadmin_backend
        backend._find_permission_set(self._get_param("InstanceArn"), self._get_param("PermissionSetArn"))
        check_inline_policy(self._get_param("InlinePolicy"))
        return _original(self)

    SSOAdminResponse.put_inline_policy_to_permission_set = put_inline_policy_to_permission_set

    _apply_delegation()


def guard_delegated_changes() -> None:
    """Wraps the permission set changes (after every other module has replaced its own)."""
    from moto.ssoadmin.responses import SSOAdminResponse

    for name in PERMISSION_SET_CHANGES:
        setattr(SSOAdminResponse, name, _delegation_guard(name, getattr(SSOAdminResponse, name)))
