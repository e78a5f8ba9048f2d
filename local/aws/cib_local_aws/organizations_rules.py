"""AWS Organizations as the broker's discovery relies on it: who may read the organization, how
its lists page, what CloseAccount and MoveAccount do, and what a closed account can still do.

From AWS's documentation (Organizations API reference, API_<Operation>.html, and user guide):

- Who may call. ListRoots, ListAccounts, ListAccountsForParent, ListOrganizationalUnitsForParent,
  ListChildren, ListParents, DescribeAccount, DescribeOrganizationalUnit: "You can only call this
  operation from the management account or a member account that is a delegated administrator"
  (each operation's page; action-reference.html). DescribeOrganization: "You can call this
  operation from any account in a organization." Management account only: MoveAccount ("You can
  only call this operation from the management account", API_MoveAccount.html), CreateAccount and
  CreateOrganizationalUnit (action-reference.html), CloseAccount (AWS's pages do not say; from a
  member it is AccessDeniedException, openshift/aws-account-operator#1050; refused here to
  delegated administrators too, the stricter choice).
  A delegated administrator (for any service, RegisterDelegatedAdministrator) gets "permissions
  for Organizations read-only actions" (orgs_integrate_delegated_admin.html): its reads answer
  with the organization's data. Any other member: AccessDeniedException (HTTP 400) "You don't
  have permissions to access this resource." (AWS's answer as reported in
  aws-samples/aws-iam-access-key-auto-rotation#10 and awslabs/aws-innovation-sandbox#6). An
  account in no organization: AWSOrganizationsNotInUseException (listed by each operation).
  moto answered a member's ListRoots with its management account's roots, its ListAccounts with
  an empty list, its other reads with ...NotFoundException, and a delegated administrator the
  same; an account in no organization got an empty ListAccounts.
- Page sizes. MaxResults "Valid Range: Minimum value of 1. Maximum value of 20." (ListRoots,
  ListAccounts, ListAccountsForParent, ListOrganizationalUnitsForParent, ListChildren,
  ListParents): outside it InvalidInputException, Reason MIN_VALUE_EXCEEDED / MAX_VALUE_EXCEEDED,
  with the reason's documented words as the message (the exact message is not documented).
  Without MaxResults AWS uses "a value that is specific to the operation", at most 20; here 20
  for ListAccounts (moto: 100), ListAccountsForParent and ListOrganizationalUnitsForParent (moto
  already). So a client that ignores NextToken misses accounts past the twentieth. A NextToken
  that no previous call of the same operation and parameters gave: InvalidInputException,
  Reason INVALID_NEXT_TOKEN (the reason is in the API's enum; the message is chosen here), where
  moto answered its own InvalidToken.
- CloseAccount (API_CloseAccount.html): "While the close account request is in progress, Account
  status will indicate PENDING_CLOSURE. When the close account request completes, the status
  will change to SUSPENDED"; its State is PENDING_CLOSURE, then CLOSED ("'CLOSED' for accounts
  in their 90-day reinstatement window"; SUSPENDED is "AWS-enforced suspension": AWS's
  announcement of the State field, and orgs_manage_accounts_account_state.html). moto made both
  SUSPENDED at once. Here Status and State are PENDING_CLOSURE for CIB_LOCAL_ORG_CLOSURE_MS
  milliseconds after the call (AWS: "wait a few minutes"; chosen here: 5,000 by default, so
  that a sync right after CloseAccount sees the pending state, as it would on AWS), then Status
  SUSPENDED and State CLOSED. The account stays in its OU (ListAccountsForParent, ListParents)
  and in ListAccounts; the 90 days after which AWS removes it are not played. Closing it again:
  AccountAlreadyClosedException (pending or closed). Closing the management account:
  ConstraintViolationException, Reason CANNOT_CLOSE_MANAGEMENT_ACCOUNT ("You can't close the
  management account with this API").
- A closed account (orgs_manage_accounts_close.html: "Immediately, the account can no longer be
  used for any AWS activity other than signing in as the root user to view past bills or to
  contact AWS Support"; manage-acct-closing.html: "You will no longer be able to access AWS
  services"): from the CloseAccount call on (PENDING_CLOSURE too: the account state page says a
  pending account "remains functional", the closing page says "Immediately"; the stricter is
  taken, as field reports have AssumeRole failing in pending accounts,
  aws-samples/experimental-programmatic-access-ccft#21, landing-zone-accelerator-on-aws#727):
  AssumeRole into one of its roles is AccessDenied (HTTP 403) "User: <caller> is not authorized
  to perform: sts:AssumeRole on resource: <role ARN>" (the answer reported in
  aws-samples/aws-security-reference-architecture-examples#218; AWS documents no error for it),
  and every call signed with its credentials (its users' keys, sessions issued before the
  closure) is refused as AccessDenied / AccessDeniedException (S3: S3's AccessDenied) "User:
  <caller> is not authorized to perform: <action> because the account <id> is closed" (AWS does
  not document this answer; the wording is chosen here), GetCallerIdentity included.
- MoveAccount (API_MoveAccount.html, its errors): an unknown account AccountNotFoundException; a
  SourceParentId that is not a root or OU of the organization, or not the account's current
  parent, SourceParentNotFoundException ("We can't find a source root or OU with the ParentId
  that you specified"; the not-its-parent case is chosen here, AWS does not say); a missing
  destination DestinationParentNotFoundException; the destination the account is already in
  DuplicateAccountException ("That account is already present in the specified destination.").
  moto checked only that both parents exist (ParentNotFoundException) and moved the account from
  wherever it was.

- CreateAccount's role (API_CreateAccount.html, RoleName: the role Organizations "automatically
  preconfigures in the new member account. This role trusts the management account, allowing
  users in the management account to assume the role ... The role has administrator permissions
  in the new member account"): moto made OrganizationAccountAccessRole (or RoleName) with the
  trust and no permissions, so a seed reaching a member through it could do nothing. Here it also
  gets an inline policy `AdministratorAccess` allowing `*` on `*` (AWS attaches the AWS managed
  policy of that name; the local AWS does not load managed policies).

For tests, the closure delay can be changed while the server runs (unsigned, JSON):

    GET  /moto-api/cib/organizations/closure  → 200 {"Milliseconds"}
    POST /moto-api/cib/organizations/closure  {"Milliseconds": N}  (0 to 86,400,000): closures
        requested from now on take N ms; 0 also completes every pending closure at once. → 200
        {"Milliseconds"}; 400 {"message"} if malformed.
"""

from __future__ import annotations

import os
import threading
import time

from .iam_propagation_delay import parse_milliseconds, parse_milliseconds_json
from .ssm_agents import json_answer, read_json

CLOSURE_ENV = "CIB_LOCAL_ORG_CLOSURE_MS"
CLOSURE_DEFAULT_MS = 5_000
CLOSURE_PATH = "{0}/moto-api/cib/organizations/closure"
PAGE_MAX = 20
NO_PERMISSION = "You don't have permissions to access this resource."
BAD_TOKEN = "You specified an invalid value for nextToken. You must get the value from the response to a previous call to the API."
# Reads a delegated administrator may make; MoveAccount and friends: the management account only.
ADMIN_READS = {
    "list_roots",
    "list_accounts",
    "list_accounts_for_parent",
    "list_organizational_units_for_parent",
    "list_children",
    "list_parents",
    "describe_account",
    "describe_organizational_unit",
}
MANAGEMENT_ONLY = {"move_account", "close_account", "create_account", "create_organizational_unit"}
PAGED = {"list_roots", "list_accounts", "list_accounts_for_parent", "list_organizational_units_for_parent", "list_children", "list_parents"}
ACTIVE, PENDING, SUSPENDED, CLOSED = "ACTIVE", "PENDING_CLOSURE", "SUSPENDED", "CLOSED"
ADMINISTRATOR_ACCESS = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'

clock = time.monotonic
_closure_ms = CLOSURE_DEFAULT_MS
_lock = threading.Lock()


def closure_delay_from_environment(environ=os.environ) -> int:
    raw = environ.get(CLOSURE_ENV)
    if raw is None or raw.strip() == "":
        return CLOSURE_DEFAULT_MS
    try:
        return parse_milliseconds(raw)
    except ValueError as e:
        raise ValueError(f"{CLOSURE_ENV} {e}") from None


def _error(code: str, message: str, reason: str | None = None):
    from moto.organizations.exceptions import OrganizationsClientError

    error = OrganizationsClientError(code, message)
    if reason is not None:
        error.reason = error.Reason = reason  # the exceptions' Reason member
    return error


# --- Closure --------------------------------------------------------------------------------------


def refresh(account) -> None:
    """A pending closure whose time has come completes: Status SUSPENDED, State CLOSED."""
    due = getattr(account, "cib_closure_due", None)
    if account.status == PENDING and due is not None and clock() >= due:
        account.status, account.state = SUSPENDED, CLOSED


def _backends():
    from moto.organizations.models import organizations_backends

    return organizations_backends


def _organization_of(account_id: str, partition: str | None = None):
    """The management account's backend of the organization `account_id` is a member of."""
    backends = _backends()
    link = backends.master_accounts.get(account_id)
    if link is None or (partition is not None and link[1] != partition):
        return None
    master = backends[link[0]][link[1]]
    return master if master.org is not None else None


def is_closed(account_id: str) -> bool:
    """Whether CloseAccount was called for this member account (pending or completed)."""
    master = _organization_of(account_id)
    if master is None:
        return False
    for account in list(master.accounts):
        if account.id == account_id:
            refresh(account)
            return account.status != ACTIVE
    return False


def set_closure_delay(milliseconds: int) -> None:
    global _closure_ms
    with _lock:
        _closure_ms = milliseconds
        if milliseconds == 0:  # every pending closure completes now
            for master_id, partition in set(_backends().master_accounts.values()):
                for account in list(_backends()[master_id][partition].accounts):
                    if account.status == PENDING:
                        account.cib_closure_due = clock()
                        refresh(account)


def closure_control(request, full_url, headers):
    if request.method == "GET":
        return json_answer(200, {"Milliseconds": _closure_ms})
    if request.method != "POST":
        return json_answer(405, {"message": 'POST {"Milliseconds": N}, or GET'})
    try:
        body = read_json(request)
        if "Milliseconds" not in body:
            raise ValueError("Milliseconds is required")
        milliseconds = parse_milliseconds_json(body["Milliseconds"])
    except ValueError as e:
        return json_answer(400, {"message": str(e)})
    set_closure_delay(milliseconds)
    return json_answer(200, {"Milliseconds": milliseconds})


# --- Who may call, page sizes ---------------------------------------------------------------------


def _check_max_results(response) -> None:
    value = response._get_param("MaxResults")
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _error("InvalidInputException", "You provided a numeric parameter that has a smaller value than allowed.", "MIN_VALUE_EXCEEDED")
    if value > PAGE_MAX:
        raise _error("InvalidInputException", "You provided a numeric parameter that has a larger value than allowed.", "MAX_VALUE_EXCEEDED")


def _guard(name: str, original):
    from moto.core.exceptions import InvalidToken

    def method(self):
        if name in PAGED:
            _check_max_results(self)
        own = _backends()[self.current_account][self.partition]
        if own.org is None:
            master = _organization_of(self.current_account, self.partition)
            if master is None:
                from moto.organizations.exceptions import AWSOrganizationsNotInUseException

                raise AWSOrganizationsNotInUseException()
            delegated = any(admin.account.id == self.current_account for admin in master.admins)
            if name in MANAGEMENT_ONLY or not delegated:
                raise _error("AccessDeniedException", NO_PERMISSION)
            self._cib_backend = master  # a delegated administrator reads the organization's data
        try:
            return original(self)
        except InvalidToken:
            raise _error("InvalidInputException", BAD_TOKEN, "INVALID_NEXT_TOKEN") from None

    method.__name__ = name
    return method


# --- Closed accounts: their roles and their credentials -------------------------------------------


def _refuse(request, message: str):
    from moto.iam.access_control import S3IAMRequest

    from . import errors

    if isinstance(request, S3IAMRequest):
        request._raise_access_denied()
    raise errors.access_denied(request._headers, message)


def _closed_accounts_refused(check):
    def check_action_permitted(self, resource, _check=check):
        caller = self._access_key
        if is_closed(caller.account_id):
            _refuse(self, f"User: {caller.arn} is not authorized to perform: {self._action} because the account {caller.account_id} is closed")
        if self._action == "sts:AssumeRole" and isinstance(resource, str) and resource.count(":") >= 5:
            if is_closed(resource.split(":")[4]):
                _refuse(self, f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {resource}")
        return _check(self, resource)

    return check_action_permitted


def apply() -> None:
    global _closure_ms
    try:
        _closure_ms = closure_delay_from_environment()
    except ValueError as e:
        raise SystemExit(f"local AWS: {e}") from None

    from moto.iam import access_control as ac
    from moto.moto_api._internal import urls
    from moto.organizations import models, utils
    from moto.organizations.exceptions import AccountAlreadyClosedException
    from moto.organizations.responses import OrganizationsResponse

    # Who may call; MaxResults. A delegated administrator's reads go to the organization's backend.
    OrganizationsResponse.organizations_backend = property(
        lambda self: self.__dict__.get("_cib_backend") or models.organizations_backends[self.current_account][self.partition]
    )
    for name in ADMIN_READS | MANAGEMENT_ONLY:
        setattr(OrganizationsResponse, name, _guard(name, getattr(OrganizationsResponse, name)))
    for name in ("list_accounts", "list_accounts_for_parent", "list_organizational_units_for_parent"):
        utils.PAGINATION_MODEL[name]["limit_default"] = PAGE_MAX

    # CloseAccount: PENDING_CLOSURE, then SUSPENDED / CLOSED.
    describe = models.FakeAccount.describe

    def describe_account(self, _describe=describe):
        refresh(self)
        return _describe(self)

    def close(self):
        refresh(self)
        if self.status != ACTIVE:
            raise AccountAlreadyClosedException()
        if self.id == self.master_account_id:
            raise _error("ConstraintViolationException", "You attempted to close the management account.", "CANNOT_CLOSE_MANAGEMENT_ACCOUNT")
        with _lock:
            self.status = self.state = PENDING
            self.cib_closure_due = clock() + _closure_ms / 1000
        refresh(self)

    # CreateAccount's role has administrator permissions, as on AWS.
    create = models.FakeAccount.__init__

    def init(self, organization, _create=create, **kwargs):
        _create(self, organization, **kwargs)
        from moto.iam.models import iam_backends

        role_name = kwargs.get("RoleName", "OrganizationAccountAccessRole")
        iam_backends[self.id]["global"].put_role_policy(role_name, "AdministratorAccess", ADMINISTRATOR_ACCESS)

    models.FakeAccount.__init__ = init
    models.FakeAccount.describe = describe_account
    models.FakeAccount.close = close
    urls.url_paths[CLOSURE_PATH] = closure_control

    # MoveAccount: the source must be the account's parent; the destination another one.
    def move_account(self, **kwargs):
        account = self.get_account_by_id(kwargs["AccountId"])  # AccountNotFoundException
        parents = {ou.id for ou in self.ou}
        source, destination = kwargs.get("SourceParentId"), kwargs.get("DestinationParentId")
        if source not in parents or account.parent_id != source:
            raise _error("SourceParentNotFoundException", "We can't find a source root or OU with the ParentId that you specified.")
        if destination not in parents:
            raise _error("DestinationParentNotFoundException", "We can't find the destination container (a root or OU) with the ParentId that you specified.")
        if destination == account.parent_id:
            raise _error("DuplicateAccountException", "That account is already present in the specified destination.")
        account.parent_id = destination

    models.OrganizationsBackend.move_account = move_account

    # Closed accounts: AssumeRole into them, and calls signed with their credentials.
    ac.IAMRequestBase.check_action_permitted = _closed_accounts_refused(ac.IAMRequestBase.check_action_permitted)
