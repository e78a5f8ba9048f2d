"""The AWS access portal's API (what the AWS CLI and SDKs' SSO credential providers call with the
token `identity_center_oidc` hands out), and the role sessions it gives: sessions of the
`AWSReservedSSO_` role that carry the identity store user's id.

moto has no portal. From the AWS IAM Identity Center Portal API Reference (API_GetRoleCredentials,
API_ListAccounts, API_ListAccountRoles, API_Logout; botocore's model of it: REST-JSON, unsigned,
the token in the header `x-amz-sso_bearer_token`, errors InvalidRequestException 400,
UnauthorizedException 401, ResourceNotFoundException 404, TooManyRequestsException 429):

- GetRoleCredentials (GET /federation/credentials?account_id=&role_name=) "Returns the STS
  short-term credentials for a given role name that is assigned to the user". role_name is the
  permission set's name. Allowed when the token's user has an assignment (SUCCEEDED: one being
  created does not count yet, one being deleted still does) of a permission set of that name in
  that account, directly or through a group of the identity store it is a member of, and the
  permission set's role exists there; otherwise ForbiddenException (HTTP 403) "No access" (AWS's
  answer, not in the model: "An error occurred (ForbiddenException) when calling the
  GetRoleCredentials operation: No access", ministryofjustice/modernisation-platform#10161,
  ministryofjustice/aws-root-account#581). A token that is unknown, expired or logged out, or
  whose user was deleted: UnauthorizedException "Session token not found or invalid" (the answer
  botocore turns into UnauthorizedSSOTokenError). Missing account_id / role_name:
  InvalidRequestException. The answer's roleCredentials: accessKeyId, secretAccessKey,
  sessionToken, expiration in milliseconds since the epoch = now + the role's MaxSessionDuration
  (the permission set's SessionDuration as last provisioned).
- The credentials are a role session of that account's AWSReservedSSO_ role (an `sts_sessions`
  session: `principals` authenticates it, `enforcement` authorizes it with the role's policies,
  CloudTrail history records it as AssumedRole, the console control endpoints sign in with it).
  Its ARN is arn:aws:sts::<account>:assumed-role/AWSReservedSSO_<ps>_<hex>/<UserName> (the session
  name is the user's name); its context holds aws:userid <role id>:<UserName>, aws:PrincipalAccount
  <account>, aws:TokenIssueTime (the fetch), and identitystore:userId = the identity store user's id
  ("Revoke active IAM role sessions created by permission sets", revoke-user-permissions.html, and
  "Prepare to revoke...", prereqs-revoking-user-permissions.html, whose deny policies condition on
  identitystore:userId).
- ListAccounts (GET /assignment/accounts) lists the accounts the user has such an assignment in
  ({accountId, accountName, emailAddress} from Organizations); ListAccountRoles (GET
  /assignment/roles?account_id=) the permission set names there ({roleName, accountId}). Both
  page with max_result (1 to 100, else InvalidRequestException; omitted: 20, chosen) and
  next_token (one these calls gave, else InvalidRequestException).
- Logout (POST /logout) ends the token's sign-in (`identity_center_oidc.logout`): that token and
  the sign-in's refresh tokens are refused from then on; credentials already fetched keep working.
"""

from __future__ import annotations

import calendar
import datetime as dt

from . import identity_center_admin as admin
from . import identity_center_oidc as oidc
from . import identity_center_provisioning as provisioning
from . import identity_center_roles as roles
from . import sts_sessions
from .identity_center_http import ApiError, answer, bearer_token, has_bearer_token, route

PAGE_DEFAULT, PAGE_MAX = 20, 100
UNAUTHORIZED = "Session token not found or invalid"
NO_ACCESS = "No access"
SESSION_NAME_MAX = 64


def _error(status: int, code: str, message: str) -> ApiError:
    return ApiError(status, code, {"message": message})


def _signin(request) -> oidc.SignIn:
    signin = oidc.signin_for(bearer_token(request))
    if signin is None:
        raise _error(401, "UnauthorizedException", UNAUTHORIZED)
    data = admin.identity_store(signin.owner, signin.region, signin.identity_store_id)
    if data is None or signin.user_id not in data.users:
        raise _error(401, "UnauthorizedException", UNAUTHORIZED)  # the user was deleted
    return signin


def _grants(signin: oidc.SignIn) -> dict[str, dict[str, object]]:
    """account → {permission set ARN: permission set} the user is assigned, with a role there."""
    backend = admin.ssoadmin_backend(signin.owner, signin.region)
    groups = admin.groups_of(admin.identity_store(signin.owner, signin.region, signin.identity_store_id), signin.user_id)
    sets = {ps.permission_set_arn: ps for ps in list(backend.permission_sets)}
    out: dict[str, dict[str, object]] = {}
    for a in list(backend.account_assignments):
        if a.instance_arn != signin.instance_arn or a.permission_set_arn not in sets:
            continue
        if (a.principal_type, a.principal_id) != ("USER", signin.user_id) and not (a.principal_type == "GROUP" and a.principal_id in groups):
            continue
        if provisioning.provisioned_role(signin.instance_arn, a.permission_set_arn, a.target_id) is None:
            continue
        out.setdefault(a.target_id, {})[a.permission_set_arn] = sets[a.permission_set_arn]
    return out


def _required(request, name: str) -> str:
    value = request.args.get(name)
    if not value:
        raise _error(400, "InvalidRequestException", f"{name} is required")
    return value


def _page(request, items: list, key: str):
    raw_max, token = request.args.get("max_result"), request.args.get("next_token")
    size = PAGE_DEFAULT
    if raw_max is not None:
        if not raw_max.isdigit() or not 1 <= int(raw_max) <= PAGE_MAX:
            raise _error(400, "InvalidRequestException", f"max_result must be from 1 to {PAGE_MAX}")
        size = int(raw_max)
    start = 0
    if token is not None:
        if not token.startswith("cib-") or not token[4:].isdigit() or int(token[4:]) > len(items):
            raise _error(400, "InvalidRequestException", "Invalid next_token")
        start = int(token[4:])
    body = {key: items[start : start + size]}
    if start + size < len(items):
        body["nextToken"] = f"cib-{start + size}"
    return answer(200, body)


def _epoch_ms(naive_utc: dt.datetime) -> int:
    return calendar.timegm(naive_utc.timetuple()) * 1000 + naive_utc.microsecond // 1000


def role_session(account: str, partition: str, region: str, role, signin: oidc.SignIn):
    """A session of the AWSReservedSSO_ role for the signed-in user, registered with STS."""
    from moto.iam.models import iam_backends
    from moto.sts.models import AssumedRole, sts_backends

    duration = int(role.max_session_duration or 3600)
    key = iam_backends[account][partition].create_temp_access_key()
    key.role_arn = role.arn
    session = AssumedRole(
        account_id=account,
        region_name=region,
        access_key=key,
        role_session_name=signin.user_name[:SESSION_NAME_MAX],
        role_arn=role.arn,
        policy=None,
        duration=duration,
        external_id=None,
    )
    issued = (session.expiration - dt.timedelta(seconds=duration)).replace(tzinfo=dt.timezone.utc)
    session.cib_info = sts_sessions.SessionInfo(role_id=role.id, issued_at=issued, context={"identitystore:userId": signin.user_id})
    sts_backends[account][partition].assumed_roles.append(session)
    return session


def get_role_credentials(request):
    signin = _signin(request)
    account, role_name = _required(request, "account_id"), _required(request, "role_name")
    permission_set = next((ps for ps in _grants(signin).get(account, {}).values() if ps.name == role_name), None)
    if permission_set is None:
        raise _error(403, "ForbiddenException", NO_ACCESS)
    backend = admin.ssoadmin_backend(signin.owner, signin.region)
    name = provisioning.provisioned_role(signin.instance_arn, permission_set.permission_set_arn, account)
    role = roles.find_role(account, backend.partition, name) if name else None
    if role is None:
        raise _error(403, "ForbiddenException", NO_ACCESS)
    session = role_session(account, backend.partition, signin.region, role, signin)
    return answer(
        200,
        {
            "roleCredentials": {
                "accessKeyId": session.access_key_id,
                "secretAccessKey": session.secret_access_key,
                "sessionToken": session.session_token,
                "expiration": _epoch_ms(session.expiration),
            }
        },
    )


def list_accounts(request):
    signin = _signin(request)
    accounts = []
    for account_id in sorted(_grants(signin)):
        account = admin.organization_account(signin.owner, account_id)
        accounts.append(
            {
                "accountId": account_id,
                "accountName": getattr(account, "name", account_id),
                "emailAddress": getattr(account, "email", ""),
            }
        )
    return _page(request, accounts, "accountList")


def list_account_roles(request):
    signin = _signin(request)
    account = _required(request, "account_id")
    names = sorted(ps.name for ps in _grants(signin).get(account, {}).values())
    return _page(request, [{"roleName": n, "accountId": account} for n in names], "roleList")


def logout(request):
    token = bearer_token(request)
    if oidc.signin_for(token) is None or not oidc.logout(token):
        raise _error(401, "UnauthorizedException", UNAUTHORIZED)
    return 200, {}, ""


def apply() -> None:
    route("GET", "/federation/credentials", get_role_credentials, has_bearer_token)
    route("GET", "/assignment/accounts", list_accounts, has_bearer_token)
    route("GET", "/assignment/roles", list_account_roles, has_bearer_token)
    route("POST", "/logout", logout, has_bearer_token)
