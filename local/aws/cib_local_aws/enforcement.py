"""Authorization of every signed request with `policy_eval`, in place of moto's check.

moto's `IAMRequestBase.check_action_permitted` (moto.iam.access_control) ignores most
conditions, treats an Allow whose condition is unmet as an explicit Deny, treats a trust
statement naming another principal as a Deny, knows only StringEquals (on sts:ExternalId) in
trust policies, and never sees session policies, session names, source identities, tags or
token issue times. The broker's revocations are exactly such conditions (a Deny on
aws:userid and aws:TokenIssueTime), so they would go untested. This check builds the request
context AWS builds (see `principals` for the keys every request carries) and asks
`policy_eval.decide`:
- any action: the caller's identity policies, limited by its session policy;
- sts:AssumeRole: also the role's trust policy as the resource-based policy, with the
  caller as principal, plus sts:SetSourceIdentity when a source identity is set (asked for,
  or carried over from the calling session) and sts:TagSession when tags are passed.
sts:GetCallerIdentity stays always allowed (it is on AWS too). A request object may carry
`cib_context`, extra context keys its service computed (see `ssm_sessions`).
DynamoDB calls are checked as `dynamodb_access` says: on the table's (or index's) ARN with
dynamodb:LeadingKeys, a transaction once per item as the item's action, where moto checks each
call once on `*`.
S3 calls that name no bucket (ListBuckets) are checked against the resource `*`, not moto's
`arn:aws:s3:::*`: "This does not allow users to use the ListAllMyBuckets S3 API operation,
because that action requires the "*" resource" (reference_policies_elements_notaction.html, of
an Allow on `arn:aws:s3:::*`), which moto's ARN would have matched.
Unsigned requests while INITIAL_NO_AUTH_ACTION_COUNT lasts never get here (moto skips them).
"""

from __future__ import annotations

import datetime as dt
import re

from . import dynamodb_access, errors, iam_propagation
from .policy_eval import ALLOW, EXPLICIT_DENY, IDENTITY, RESOURCE, Request, decide

_TAG = re.compile(r"^Tags\.member\.(\d+)\.(Key|Value)$")
_TRANSITIVE = re.compile(r"^TransitiveTagKeys\.member\.(\d+)$")


def _first(data, name):
    value = data.get(name)
    if isinstance(value, list):
        return value[0] if value else None
    return value


def request_tags(data) -> list[tuple[str, str]]:
    """Tags.member.N.Key/Value of a query request, in order."""
    found: dict[int, dict[str, str]] = {}
    for name in data:
        m = _TAG.match(name)
        if m:
            found.setdefault(int(m.group(1)), {})[m.group(2)] = _first(data, name)
    return [(t.get("Key", ""), t.get("Value", "")) for _, t in sorted(found.items())]


def transitive_tag_keys(data) -> list[str]:
    keys = {int(m.group(1)): _first(data, name) for name in data if (m := _TRANSITIVE.match(name))}
    return [k for _, k in sorted(keys.items())]


def _message(caller_arn: str, action: str, resource: str, decision: str, where: str | None) -> str:
    # AWS's wording since 2021, e.g. "... with an explicit deny in an identity-based policy".
    on = f" on resource: {resource}" if resource and resource != "*" else ""
    kind = where or IDENTITY
    if decision == EXPLICIT_DENY:
        article = "an" if kind[0] in "aeiou" else "a"
        why = f" with an explicit deny in {article} {kind}"
    else:
        why = f" because no {kind} allows the {action} action"
    return f"User: {caller_arn} is not authorized to perform: {action}{on}{why}"


def _refuse(request, action: str, resource: str, decision: str, where: str | None):
    from moto.iam.access_control import S3IAMRequest

    if isinstance(request, S3IAMRequest):
        request._raise_access_denied()  # S3's own AccessDenied format
    raise errors.access_denied(request._headers, _message(request._access_key.arn, action, resource, decision, where))


def check_action_permitted(self, resource: str) -> None:
    from moto.utilities.utils import get_partition

    if self._action == "sts:GetCallerIdentity":
        return  # always allowed, even under an explicit Deny (as on AWS)
    caller = self._access_key
    now = dt.datetime.now(dt.timezone.utc)
    ctx = caller.context(now)
    ctx["aws:RequestedRegion"] = self._region
    # Service-specific keys a response class computed for this request (ssm_sessions:
    # ssm:SessionDocumentAccessCheck, ssm:resourceTag/...).
    ctx.update(getattr(self, "cib_context", None) or {})
    if self._action == "sts:AssumeRole":
        _check_assume_role(self, caller, resource, ctx)
        return
    if resource.startswith("arn:") and resource.endswith(":s3:::*") and resource.count(":") == 5:
        resource = "*"  # a call on no bucket (ListBuckets) needs the "*" resource
    checks = [(self._action, resource, {})]
    if self._action.startswith("dynamodb:"):
        # On the table or index, with dynamodb:LeadingKeys; a transaction item by item.
        checks = dynamodb_access.request_checks(self._action, self._body, get_partition(self._region), self._region, self.account_id) or checks
    identity = caller.identity_policies()
    for action, on, keys in checks:
        decision, where = decide(Request(action, on, {**ctx, **keys}), identity, caller.session_policy)
        if decision != ALLOW:
            _refuse(self, action, on, decision, where)


def _check_assume_role(request, caller, role_arn: str, ctx: dict) -> None:
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    role = None
    parts = role_arn.split(":")
    if len(parts) >= 6:
        try:
            role = iam_backends[parts[4]][get_partition(request._region)].get_role_by_arn(role_arn)
        except Exception:
            role = None
    if role is not None and not iam_propagation.role_visible(role):
        role = None  # created too recently: not visible to STS yet (iam_propagation)
    if role is None:  # AWS: not authorized (it does not say whether the role exists)
        _refuse(request, "sts:AssumeRole", role_arn, "IMPLICIT_DENY", RESOURCE)

    data = request._data
    session_name = _first(data, "RoleSessionName")
    external_id = _first(data, "ExternalId")
    source_identity = _first(data, "SourceIdentity")
    if source_identity is None and caller.kind == "AssumedRole":
        source_identity = caller.source_identity  # chaining carries it over
    tags = request_tags(data)
    transitive = transitive_tag_keys(data)

    if session_name is not None:
        ctx["sts:RoleSessionName"] = session_name
    if external_id is not None:
        ctx["sts:ExternalId"] = external_id
    if source_identity is not None:
        ctx["sts:SourceIdentity"] = source_identity
    for key, value in tags:
        ctx[f"aws:RequestTag/{key}"] = value
    if tags:
        ctx["aws:TagKeys"] = [k for k, _ in tags]
    if transitive:
        ctx["sts:TransitiveTagKeys"] = transitive
    for tag in role.tags or []:
        ctx[f"aws:ResourceTag/{tag['Key']}"] = tag["Value"]
        ctx[f"iam:ResourceTag/{tag['Key']}"] = tag["Value"]

    actions = ["sts:AssumeRole"]
    if source_identity is not None:
        actions.append("sts:SetSourceIdentity")
    if tags or transitive:
        actions.append("sts:TagSession")
    identity = caller.identity_policies()
    for action in actions:
        decision, where = decide(
            Request(action, role_arn, ctx),
            identity,
            caller.session_policy,
            resource_policy=iam_propagation.trust_policy(role),  # as seen now (iam_propagation)
            principal=caller.principal,
            resource_account=parts[4],
            trust_policy=True,
            # Chaining: sts:SetSourceIdentity must be allowed by the calling role's own
            # policies as well as by the trust policy (monitor-and-control page).
            direct_grant=not (action == "sts:SetSourceIdentity" and caller.kind == "AssumedRole"),
        )
        if decision != ALLOW:
            _refuse(request, action, role_arn, decision, where)


def apply() -> None:
    from moto.iam import access_control as ac

    ac.IAMRequestBase.check_action_permitted = check_action_permitted
