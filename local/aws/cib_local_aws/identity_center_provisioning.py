"""IAM Identity Center's asynchronous work: account assignments and permission set provisioning
take time, report IN_PROGRESS, then SUCCEEDED or FAILED, and only then change the accounts.

moto answers CreateAccountAssignment, DeleteAccountAssignment and ProvisionPermissionSet SUCCEEDED
at once and changes no account. From AWS's API reference (API_CreateAccountAssignment.html,
API_DeleteAccountAssignment.html, API_ProvisionPermissionSet.html, the Describe...Status pages) and
user guide:

- CreateAccountAssignment answers AccountAssignmentCreationStatus with Status IN_PROGRESS ("After a
  successful response, call DescribeAccountAssignmentCreationStatus to describe the status of an
  assignment creation request"); DeleteAccountAssignment likewise (AccountAssignmentDeletionStatus,
  DescribeAccountAssignmentDeletionStatus); ProvisionPermissionSet answers
  PermissionSetProvisioningStatus IN_PROGRESS (DescribePermissionSetProvisioningStatus). Each
  request stays IN_PROGRESS for D milliseconds, then is SUCCEEDED or FAILED (FailureReason), and
  its effect on the accounts happens at that moment, not before: the role does not exist while its
  assignment is IN_PROGRESS. D is CIB_LOCAL_SSO_PROVISION_MS (read at start; unset or blank 1,000;
  a whole number 0 to 600,000, anything else stops the server) or the control endpoint below.
- "As part of a successful CreateAccountAssignment call, the specified permission set will
  automatically be provisioned to the account [...] If the permission set is subsequently updated,
  the corresponding IAM policies attached to roles in your accounts will not be updated
  automatically. In this case, you must call ProvisionPermissionSet" (API_CreateAccountAssignment
  and API_PutInlinePolicyToPermissionSet). A creation provisions the permission set as it was when
  the request was made; so does ProvisionPermissionSet (TargetType AWS_ACCOUNT with TargetId, or
  ALL_PROVISIONED_ACCOUNTS: every account the permission set is provisioned to when the request is
  made). Until SUCCEEDED the roles keep what they had. Chosen here: the state of the permission set
  is taken when the request is made (a change made while a request is pending needs another).
- Several assignments of one permission set in one account share its one role; deleting the last
  one deletes the role ("If you delete all assignments to this permission set in the AWS account,
  the corresponding role that IAM Identity Center created is also deleted",
  referencingpermissionsets.html). ProvisionPermissionSet to an account the permission set has no
  assignment in makes the role there all the same (hashicorp/terraform-provider-aws#32006: it "has
  the effect of creating an IAM role in the target account [...] without any user or group being
  mapped").
- FAILED (chosen reasons, in the status' FailureReason): a TargetId that is not an account of the
  instance's organization ("The account <id> is not a member of the organization that IAM Identity
  Center instance <arn> belongs to."), a closed account, a principal that is not in the instance's
  identity store, and what `identity_center_roles` refuses (a customer managed policy missing from
  the account, IAM's quotas). A failed creation creates no assignment and no role.
- ConflictException "There is a conflicting operation in process." (the answer reported in
  aws-samples/aws-iam-identity-center-extensions#111; aws-samples/iam-identity-center-team#513 for
  a deletion and a creation of one permission set in one account; limits.html: "Number of IAM
  roles (permission sets) in the AWS account that can be updated at a time: 1") for any request on a
  permission set while another on the same permission set and account is IN_PROGRESS. DeletePermission
  Set of a permission set with assignments or a request in progress: ConflictException (chosen
  words; "AWS SSO admin API does not allow deleting a permission set that already has account
  assignments", aws-samples/aws-iam-identity-center-extensions#89); a role it was provisioned to
  without any assignment is deleted with it.
- Validation (the API's shapes): TargetType AWS_ACCOUNT (ProvisionPermissionSet: or
  ALL_PROVISIONED_ACCOUNTS), TargetId 12 digits (required for AWS_ACCOUNT), PrincipalType USER or
  GROUP, PrincipalId the API's pattern: else ValidationException; an unknown permission set
  ResourceNotFoundException (moto's); DeleteAccountAssignment of an assignment that does not exist
  (or is still being created) ResourceNotFoundException.
- ListAccountAssignments and ListAccountAssignmentsForPrincipal list the assignments that exist:
  a creation in progress is not listed yet, a deletion in progress still is.
  ListPermissionSetsProvisionedToAccount (AccountId) and ListAccountsForProvisionedPermissionSet
  answer from the roles made (moto answered the caller's own account).

Control endpoint (unsigned, JSON):

    GET  /moto-api/cib/sso/provisioning  → 200 {"Milliseconds": D}
    POST /moto-api/cib/sso/provisioning  {"Milliseconds": N}  (0 to 600,000): requests made from
        now on take N ms; 0 also completes every request in progress at once. → 200
        {"Milliseconds"}; 400 {"message"} if malformed.

Requests complete when any request reaches the server after their time (`settle`, run ahead of
every request), so what a client sees is always consistent with the statuses it reads.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass

from . import identity_center_admin as admin
from . import identity_center_roles as roles
from .ssm_agents import json_answer, read_json

ENV = "CIB_LOCAL_SSO_PROVISION_MS"
DEFAULT_MS = 1_000
MAX_MS = 600_000
PATH = "{0}/moto-api/cib/sso/provisioning"
CONFLICT = "There is a conflicting operation in process."
IN_PROGRESS, SUCCEEDED, FAILED = "IN_PROGRESS", "SUCCEEDED", "FAILED"
CREATE, DELETE, PROVISION = "create", "delete", "provision"
_TARGET = re.compile(r"^\d{12}$")
_PRINCIPAL = re.compile(r"^([0-9a-f]{10}-|)[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}$")

clock = time.monotonic
_delay_ms = DEFAULT_MS
_lock = threading.RLock()


def parse_milliseconds(value, json_body: bool = False) -> int:
    if isinstance(value, str) and not json_body:
        text = value.strip()
        if text.isascii() and text.isdigit():
            value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MS:
        raise ValueError(f"must be a whole number of milliseconds from 0 to {MAX_MS}, not {value!r}")
    return value


def delay_from_environment(environ=os.environ) -> int:
    raw = environ.get(ENV)
    if raw is None or raw.strip() == "":
        return DEFAULT_MS
    try:
        return parse_milliseconds(raw)
    except ValueError as e:
        raise ValueError(f"{ENV} {e}") from None


@dataclass
class Operation:
    kind: str
    request_id: str
    owner: str  # the instance's account
    partition: str
    region: str
    instance_arn: str
    permission_set_arn: str
    targets: list[str]
    target_type: str
    principal_type: str | None
    principal_id: str | None
    snap: roles.Snapshot | None
    created: float  # epoch seconds (CreatedDate)
    due: float  # clock()
    status: str = IN_PROGRESS
    failure: str | None = None

    def describe(self) -> dict:
        out = {"Status": self.status, "RequestId": self.request_id, "PermissionSetArn": self.permission_set_arn, "CreatedDate": self.created}
        if self.kind == PROVISION:
            if self.target_type == "AWS_ACCOUNT":
                out["AccountId"] = self.targets[0]
        else:
            out.update(TargetId=self.targets[0], TargetType=self.target_type, PrincipalType=self.principal_type, PrincipalId=self.principal_id)
        if self.failure is not None:
            out["FailureReason"] = self.failure
        return out


@dataclass
class Provisioned:
    role_name: str
    snap: roles.Snapshot


_operations: dict[str, Operation] = {}
_pending: list[Operation] = []
_roles: dict[tuple[str, str, str], Provisioned] = {}  # (instance ARN, permission set ARN, account)


# --- What exists ----------------------------------------------------------------------------------


def provisioned_role(instance_arn: str, permission_set_arn: str, account: str) -> str | None:
    with _lock:
        record = _roles.get((instance_arn, permission_set_arn, account))
        return record.role_name if record is not None else None


def provisioned_accounts(instance_arn: str, permission_set_arn: str) -> list[str]:
    with _lock:
        return sorted(a for (i, p, a) in _roles if i == instance_arn and p == permission_set_arn)


def _assignments(backend, instance_arn, permission_set_arn, account):
    return [
        a
        for a in list(backend.account_assignments)
        if a.instance_arn == instance_arn and a.permission_set_arn == permission_set_arn and a.target_id == account
    ]


# --- Completing requests --------------------------------------------------------------------------


def settle(force: bool = False) -> None:
    """Completes every request whose time has come (all of them with `force`)."""
    if not _pending:
        return
    with _lock:
        now = clock()
        due = sorted((op for op in _pending if force or op.due <= now), key=lambda op: op.due)
        for op in due:
            _pending.remove(op)
            try:
                _complete(op)
            except roles.ProvisioningFailed as e:
                op.status, op.failure = FAILED, e.reason
            except Exception as e:  # never leave a request IN_PROGRESS for ever
                op.status, op.failure = FAILED, f"An unexpected internal service exception was encountered: {e}"


def _target_problem(op: Operation, account: str) -> str | None:
    found = admin.organization_account(op.owner, account, op.partition)
    if found is None:
        return f"The account {account} is not a member of the organization that IAM Identity Center instance {op.instance_arn} belongs to."
    if found.status != "ACTIVE":
        return f"The account {account} is closed."
    return None


def _provision(op: Operation, account: str) -> None:
    problem = _target_problem(op, account)
    if problem is not None:
        raise roles.ProvisioningFailed(problem)
    key = (op.instance_arn, op.permission_set_arn, account)
    existing = _roles.get(key)
    role = roles.provision(account, op.partition, op.region, op.instance_arn, op.snap, existing.role_name if existing else None)
    _roles[key] = Provisioned(role.name, op.snap)


def _complete(op: Operation) -> None:
    from moto.ssoadmin.models import AccountAssignment

    backend = admin.ssoadmin_backend(op.owner, op.region)
    account = op.targets[0] if op.targets else None
    if op.kind == CREATE:
        problem = _target_problem(op, account)
        if problem is not None:
            raise roles.ProvisioningFailed(problem)
        instance = admin.instance_of(backend, op.instance_arn)
        store = admin.identity_store(op.owner, op.region, instance.identity_store_id)
        if not admin.principal_exists(store, op.principal_type, op.principal_id):
            raise roles.ProvisioningFailed(
                f"The principal {op.principal_id} ({op.principal_type}) does not exist in identity store {instance.identity_store_id}."
            )
        _provision(op, account)
        if not any(a.principal_type == op.principal_type and a.principal_id == op.principal_id for a in _assignments(backend, op.instance_arn, op.permission_set_arn, account)):
            assignment = AccountAssignment(op.instance_arn, account, "AWS_ACCOUNT", op.permission_set_arn, op.principal_type, op.principal_id)
            assignment.request_id = op.request_id
            backend.account_assignments.append(assignment)
    elif op.kind == DELETE:
        for a in _assignments(backend, op.instance_arn, op.permission_set_arn, account):
            if a.principal_type == op.principal_type and a.principal_id == op.principal_id:
                backend.account_assignments.remove(a)
        if not _assignments(backend, op.instance_arn, op.permission_set_arn, account):
            record = _roles.pop((op.instance_arn, op.permission_set_arn, account), None)
            if record is not None:
                roles.remove(account, op.partition, record.role_name)
    else:
        failures = []
        for target in op.targets:
            try:
                _provision(op, target)
            except roles.ProvisioningFailed as e:
                failures.append(e.reason)
        if failures:
            raise roles.ProvisioningFailed(failures[0])
    op.status = SUCCEEDED


# --- Requests -------------------------------------------------------------------------------------


def _conflicts(instance_arn: str, permission_set_arn: str, targets: list[str]) -> bool:
    for op in _pending:
        if op.instance_arn == instance_arn and op.permission_set_arn == permission_set_arn:
            if op.target_type == "ALL_PROVISIONED_ACCOUNTS" or set(op.targets) & set(targets) or not targets:
                return True
    return False


def _queue(response, kind: str, targets: list[str], target_type: str, principal=(None, None), snap=None) -> Operation:
    backend = response.ssoadmin_backend
    instance_arn, ps_arn = response._get_param("InstanceArn"), response._get_param("PermissionSetArn")
    if _conflicts(instance_arn, ps_arn, targets):
        raise admin.error("ConflictException", CONFLICT)
    op = Operation(
        kind=kind,
        request_id=str(uuid.uuid4()),
        owner=backend.account_id,
        partition=backend.partition,
        region=response.region,
        instance_arn=instance_arn,
        permission_set_arn=ps_arn,
        targets=targets,
        target_type=target_type,
        principal_type=principal[0],
        principal_id=principal[1],
        snap=snap,
        created=time.time(),
        due=clock() + _delay_ms / 1000.0,
    )
    _operations[op.request_id] = op
    _pending.append(op)
    if _delay_ms == 0:
        settle()
    return op


def _assignment_params(response):
    admin.require_organization_instance(response)
    target_id, target_type = response._get_param("TargetId"), response._get_param("TargetType")
    principal_type, principal_id = response._get_param("PrincipalType"), response._get_param("PrincipalId")
    if target_type != "AWS_ACCOUNT":
        raise admin.validation(f"1 validation error detected: Value '{target_type}' at 'targetType' failed to satisfy constraint: Member must satisfy enum value set: [AWS_ACCOUNT]")
    if not isinstance(target_id, str) or not _TARGET.match(target_id):
        raise admin.validation(f"1 validation error detected: Value '{target_id}' at 'targetId' failed to satisfy constraint: Member must satisfy regular expression pattern: \\d{{12}}")
    if principal_type not in ("USER", "GROUP"):
        raise admin.validation(f"1 validation error detected: Value '{principal_type}' at 'principalType' failed to satisfy constraint: Member must satisfy enum value set: [USER, GROUP]")
    if not isinstance(principal_id, str) or not _PRINCIPAL.match(principal_id):
        raise admin.validation(f"1 validation error detected: Value '{principal_id}' at 'principalId' failed to satisfy constraint: Member must satisfy regular expression pattern: ([0-9a-f]{{10}}-|)[A-Fa-f0-9]{{8}}-[A-Fa-f0-9]{{4}}-[A-Fa-f0-9]{{4}}-[A-Fa-f0-9]{{4}}-[A-Fa-f0-9]{{12}}")
    permission_set = response.ssoadmin_backend._find_permission_set(response._get_param("InstanceArn"), response._get_param("PermissionSetArn"))
    admin.check_delegated_target(response, target_id)
    return permission_set, target_id, (principal_type, principal_id)


def create_account_assignment(self):
    with _lock:
        permission_set, target, principal = _assignment_params(self)
        op = _queue(self, CREATE, [target], "AWS_ACCOUNT", principal, roles.snapshot(permission_set))
        return json.dumps({"AccountAssignmentCreationStatus": op.describe()})


def delete_account_assignment(self):
    with _lock:
        _, target, principal = _assignment_params(self)
        instance_arn, ps_arn = self._get_param("InstanceArn"), self._get_param("PermissionSetArn")
        if _conflicts(instance_arn, ps_arn, [target]):
            raise admin.error("ConflictException", CONFLICT)
        if not any(a.principal_type == principal[0] and a.principal_id == principal[1] for a in _assignments(self.ssoadmin_backend, instance_arn, ps_arn, target)):
            raise admin.error("ResourceNotFoundException", "The account assignment does not exist.")
        op = _queue(self, DELETE, [target], "AWS_ACCOUNT", principal)
        return json.dumps({"AccountAssignmentDeletionStatus": op.describe()})


def provision_permission_set(self):
    with _lock:
        admin.require_organization_instance(self)
        target_type, target_id = self._get_param("TargetType"), self._get_param("TargetId")
        if target_type not in ("AWS_ACCOUNT", "ALL_PROVISIONED_ACCOUNTS"):
            raise admin.validation(f"1 validation error detected: Value '{target_type}' at 'targetType' failed to satisfy constraint: Member must satisfy enum value set: [AWS_ACCOUNT, ALL_PROVISIONED_ACCOUNTS]")
        instance_arn, ps_arn = self._get_param("InstanceArn"), self._get_param("PermissionSetArn")
        permission_set = self.ssoadmin_backend._find_permission_set(instance_arn, ps_arn)
        if target_type == "AWS_ACCOUNT":
            if not isinstance(target_id, str) or not _TARGET.match(target_id):
                raise admin.validation("TargetId is required, 12 digits, when TargetType is AWS_ACCOUNT.")
            targets = [target_id]
            admin.check_delegated_target(self, target_id)
        else:
            targets = provisioned_accounts(instance_arn, ps_arn)
        op = _queue(self, PROVISION, targets, target_type, snap=roles.snapshot(permission_set))
        return json.dumps({"PermissionSetProvisioningStatus": op.describe()})


def _describe(self, kind: str, id_param: str, answer: str):
    request_id = self._get_param(id_param)
    admin.instance_of(self.ssoadmin_backend, self._get_param("InstanceArn"))
    with _lock:
        op = _operations.get(request_id)
        if op is None or op.kind != kind or op.instance_arn != self._get_param("InstanceArn"):
            raise admin.error("ResourceNotFoundException", f"Could not find the request {request_id}.")
        return json.dumps({answer: op.describe()})


def delete_permission_set(self, _original):
    with _lock:
        instance_arn, ps_arn = self._get_param("InstanceArn"), self._get_param("PermissionSetArn")
        self.ssoadmin_backend._find_permission_set(instance_arn, ps_arn)
        busy = _conflicts(instance_arn, ps_arn, [])
        assigned = any(a.instance_arn == instance_arn and a.permission_set_arn == ps_arn for a in self.ssoadmin_backend.account_assignments)
        if busy or assigned:
            raise admin.error("ConflictException", "The permission set has account assignments or a request in progress; delete its assignments first.")
        for account in provisioned_accounts(instance_arn, ps_arn):
            record = _roles.pop((instance_arn, ps_arn, account))
            roles.remove(account, self.ssoadmin_backend.partition, record.role_name)
        return _original(self)


def list_permission_sets_provisioned_to_account(self):
    admin.instance_of(self.ssoadmin_backend, self._get_param("InstanceArn"))
    instance_arn, account = self._get_param("InstanceArn"), self._get_param("AccountId")
    with _lock:
        arns = sorted({p for (i, p, a) in _roles if i == instance_arn and a == account})
    return json.dumps({"PermissionSets": arns})


def list_accounts_for_provisioned_permission_set(self):
    instance_arn, ps_arn = self._get_param("InstanceArn"), self._get_param("PermissionSetArn")
    self.ssoadmin_backend._find_permission_set(instance_arn, ps_arn)
    return json.dumps({"AccountIds": provisioned_accounts(instance_arn, ps_arn)})


# --- Control endpoint, reset, apply ---------------------------------------------------------------


def set_delay_ms(milliseconds: int) -> None:
    global _delay_ms
    with _lock:
        _delay_ms = milliseconds
        if milliseconds == 0:
            settle(force=True)


def control(request, full_url, headers):
    if request.method == "GET":
        return json_answer(200, {"Milliseconds": _delay_ms})
    if request.method != "POST":
        return json_answer(405, {"message": 'POST {"Milliseconds": N}, or GET'})
    try:
        body = read_json(request)
        if "Milliseconds" not in body:
            raise ValueError("Milliseconds is required")
        try:
            milliseconds = parse_milliseconds(body["Milliseconds"], json_body=True)
        except ValueError as e:
            raise ValueError(f"Milliseconds {e}") from None
    except ValueError as e:
        return json_answer(400, {"message": str(e)})
    set_delay_ms(milliseconds)
    return json_answer(200, {"Milliseconds": milliseconds})


def clear() -> None:
    with _lock:
        _operations.clear()
        _pending.clear()
        _roles.clear()
    roles.clear()


def apply() -> None:
    global _delay_ms
    try:
        _delay_ms = delay_from_environment()
    except ValueError as e:
        raise SystemExit(f"local AWS: {e}") from None

    from moto.moto_api._internal import urls
    from moto.moto_api._internal.models import MotoAPIBackend
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from moto.ssoadmin.responses import SSOAdminResponse

    S = SSOAdminResponse
    S.create_account_assignment = create_account_assignment
    S.delete_account_assignment = delete_account_assignment
    S.provision_permission_set = provision_permission_set
    S.describe_account_assignment_creation_status = lambda self: _describe(self, CREATE, "AccountAssignmentCreationRequestId", "AccountAssignmentCreationStatus")
    S.describe_account_assignment_deletion_status = lambda self: _describe(self, DELETE, "AccountAssignmentDeletionRequestId", "AccountAssignmentDeletionStatus")
    S.describe_permission_set_provisioning_status = lambda self: _describe(self, PROVISION, "ProvisionPermissionSetRequestId", "PermissionSetProvisioningStatus")
    original_delete = S.delete_permission_set
    S.delete_permission_set = lambda self: delete_permission_set(self, original_delete)
    S.list_permission_sets_provisioned_to_account = list_permission_sets_provisioned_to_account
    S.list_accounts_for_provisioned_permission_set = list_accounts_for_provisioned_permission_set
    for name in ("describe_account_assignment_creation_status", "describe_account_assignment_deletion_status", "describe_permission_set_provisioning_status", "delete_permission_set"):
        getattr(S, name).__name__ = name
    admin.guard_delegated_changes()  # around the calls replaced above

    urls.url_paths[PATH] = control

    # Every request first completes what is due, so that it sees the accounts as they now are.
    call = DomainDispatcherApplication.__call__

    def __call__(self, environ, start_response, _call=call):
        settle()
        return _call(self, environ, start_response)

    DomainDispatcherApplication.__call__ = __call__

    reset = MotoAPIBackend.reset

    def reset_with_identity_center(self, _reset=reset):
        clear()
        return _reset(self)

    MotoAPIBackend.reset = reset_with_identity_center
