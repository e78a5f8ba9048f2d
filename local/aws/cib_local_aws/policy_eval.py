"""IAM policy evaluation, as AWS documents it: pure functions, no moto.

Owns the decision "may this principal do this action on this resource, given these policies
and this request context?". It is kept free of moto so that it can be tested from a table of
cases taken from AWS's documentation, and so that what it decides depends only on its inputs.

Sources (IAM User Guide):
- reference_policies_evaluation-logic.html and ..._policy-eval-denyallow.html: an explicit
  Deny in any policy wins; otherwise an Allow is needed, from the identity-based policies
  (limited by a session policy when there is one) or from a resource-based policy;
- reference_policies_elements.html: Action/NotAction (case-insensitive), Resource/NotResource,
  Principal/NotPrincipal; conditions are in `policy_conditions`;
- where AWS leaves a statement's outcome open (a policy variable with no value, a condition
  AWS documents no answer for), an Allow does not apply and a Deny does
  (`statement_applies`): locally nothing is granted that AWS might refuse;
- access_policies_session-policies / the cross-account pages: a resource-based policy naming a
  role *session* (or a user) grants directly; naming the *role* is still limited by the
  session policy; naming the account delegates to the account's identity-based policies.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .policy_conditions import as_list, as_str, conditions_result, match_glob, parse_time, substitute

__all__ = ["ALLOW", "EXPLICIT_DENY", "IMPLICIT_DENY", "Principal", "Request", "decide", "evaluate", "parse_time"]

ALLOW = "ALLOW"
EXPLICIT_DENY = "EXPLICIT_DENY"
IMPLICIT_DENY = "IMPLICIT_DENY"

# Where a decision came from, for AWS-like error messages.
IDENTITY = "identity-based policy"
SESSION = "session policy"
RESOURCE = "resource-based policy"

# How a resource-based policy statement named the caller (see `Principal` below).
EXACT, ROLE, ACCOUNT, ANYONE = "exact", "role", "account", "anyone"


@dataclass(frozen=True)
class Principal:
    """Who is asking. `arn` is the IAM user ARN, or for a role session the assumed-role
    session ARN (`arn:aws:sts::<acct>:assumed-role/<role>/<session>`); `role_arn` is the
    session's role ARN (None for users)."""

    account: str
    arn: str
    role_arn: str | None = None


@dataclass
class Request:
    """The request context: the action, the resource ARN, and the condition keys (names are
    case-insensitive; values are a string or a list of strings)."""

    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Parsing and matching helpers (cached by immutable inputs only, so nothing can go stale).


@functools.lru_cache(maxsize=4096)
def _parse_json(text: str) -> Any:
    return json.loads(text)


def _document(policy: Any) -> dict:
    doc = _parse_json(policy) if isinstance(policy, str) else policy
    if not isinstance(doc, dict):
        raise ValueError("a policy document is a JSON object")
    return doc


def _statements(doc: dict) -> list[dict]:
    st = doc.get("Statement", [])
    return [st] if isinstance(st, dict) else [s for s in st if isinstance(s, dict)]


def _action_matches(patterns: Any, action: str) -> bool:
    return any(match_glob(as_str(p), action, ignore_case=True) for p in as_list(patterns))


def _resource_matches(patterns: Any, resource: str, ctx: dict[str, list[str]], variables: bool) -> tuple[bool, bool]:
    """(matched, unresolved). An entry whose policy variable has no value "will not match any
    resource" (reference_policies_variables.html, "Policy variables with no value")."""
    matched = unresolved = False
    for p in as_list(patterns):
        s = substitute(as_str(p), ctx if variables else None)
        if s is None:
            unresolved = True
        elif not matched and match_glob(s, resource):
            matched = True
    return matched, unresolved


def statement_match(statement: dict, request: Request, ctx: dict[str, list[str]], variables: bool) -> tuple[bool | None, bool]:
    """(result, unresolved): whether Action/NotAction, Resource/NotResource (absent: any
    resource, as in a trust policy) and Condition all match (True, False or UNDETERMINED, see
    `policy_conditions`), and whether a policy variable in them has no value. The principal
    is checked separately."""
    if "Action" in statement:
        if not _action_matches(statement["Action"], request.action):
            return False, False
    elif "NotAction" in statement:
        if _action_matches(statement["NotAction"], request.action):
            return False, False
    else:
        return False, False
    unresolved = False
    if "Resource" in statement:
        matched, unresolved = _resource_matches(statement["Resource"], request.resource, ctx, variables)
        if not matched:
            return False, unresolved
    elif "NotResource" in statement:
        matched, unresolved = _resource_matches(statement["NotResource"], request.resource, ctx, variables)
        if matched:
            return False, unresolved
    result, cond_unresolved = conditions_result(statement.get("Condition"), ctx, variables)
    return result, unresolved or cond_unresolved


def statement_applies(statement: dict, request: Request, ctx: dict[str, list[str]], variables: bool) -> bool:
    """Whether the statement takes effect for this request, as strictly as AWS could decide.

    A Deny applies unless it certainly does not match; an Allow only when it certainly does
    and none of its policy variables lacks a value. For such a variable AWS's page says both
    that "any attempt to match it fails and causes the statement to be invalid" (and "If AWS
    cannot resolve a variable this might cause the entire statement to be invalid") and, in
    "Policy variables with no value", that negated operators match the null value and a
    NotResource entry holding it excludes nothing. The second reading is taken for a Deny
    (its own example denies "when aws:principaltag/Team is not set"), the first for an Allow:
    locally an Allow never grants what AWS might refuse."""
    result, unresolved = statement_match(statement, request, ctx, variables)
    if statement.get("Effect") == "Deny":
        return result is not False
    return result is True and not unresolved


# ---------------------------------------------------------------------------------------------
# Principals in resource-based (and trust) policies.

_ROOT = re.compile(r"^arn:[^:]+:iam::(\d{12}):root$")


def _entry_kind(entry: str, who: Principal) -> str | None:
    """How one Principal entry names `who`, or None."""
    if entry == "*":
        return ANYONE
    root = _ROOT.match(entry)
    if entry == who.account or (root and root.group(1) == who.account):
        return ACCOUNT
    if who.role_arn and entry == who.role_arn:
        return ROLE
    if entry == who.arn:
        return EXACT
    return None


def _aws_entries(element: Any) -> list[str] | None:
    if element == "*":
        return ["*"]
    if isinstance(element, dict):
        return [as_str(e) for e in as_list(element.get("AWS", []))]
    return None


def principal_kind(statement: dict, who: Principal) -> str | None:
    """How a resource-policy statement applies to `who`: EXACT (names the user or session
    ARN), ROLE (names the session's role), ACCOUNT (the account id or root), ANYONE ("*"),
    or None when it does not apply.

    NotPrincipal applies unless every layer of the caller is listed: the account, the role
    (for a session) and the user or session ARN, as AWS's NotPrincipal page requires."""
    if "Principal" in statement:
        entries = _aws_entries(statement["Principal"]) or []
        kinds = {_entry_kind(e, who) for e in entries} - {None}
        for k in (EXACT, ROLE, ANYONE, ACCOUNT):
            if k in kinds:
                return k
        return None
    if "NotPrincipal" in statement:
        entries = _aws_entries(statement["NotPrincipal"]) or []
        kinds = {_entry_kind(e, who) for e in entries}
        if ANYONE in kinds:
            return None
        layers = {ACCOUNT, EXACT} | ({ROLE} if who.role_arn else set())
        return None if layers <= kinds else ANYONE
    return None


# ---------------------------------------------------------------------------------------------
# The decision.


def normalize_context(context: Mapping[str, Any]) -> dict[str, list[str]]:
    """Keys lower-cased (condition keys are case-insensitive), values as lists of strings."""
    return {k.lower(): [as_str(x) for x in as_list(v)] for k, v in context.items() if v is not None}


def _scan(policies: Iterable[Any], request: Request, ctx: dict[str, list[str]], who: Principal | None = None):
    """(denied, allowed, kinds): whether a matching Deny / Allow exists; for resource
    policies (`who` given), statements apply only to the principals they name, and `kinds`
    collects how the matching Allows named the caller."""
    denied = allowed = False
    kinds: set[str] = set()
    for policy in policies:
        try:
            doc = _document(policy)
        except (ValueError, TypeError):
            continue  # unreadable: AWS would not have stored it; it grants nothing
        variables = doc.get("Version") == "2012-10-17"
        for st in _statements(doc):
            kind = None
            if who is not None:
                kind = principal_kind(st, who)
                if kind is None:
                    continue
            if not statement_applies(st, request, ctx, variables):
                continue
            if st.get("Effect") == "Deny":
                denied = True
            elif st.get("Effect") == "Allow":
                allowed = True
                if kind:
                    kinds.add(kind)
    return denied, allowed, kinds


def decide(
    request: Request,
    identity_policies: Sequence[Any] = (),
    session_policy: Any = None,
    resource_policy: Any = None,
    principal: Principal | None = None,
    *,
    resource_account: str | None = None,
    trust_policy: bool = False,
    direct_grant: bool = True,
) -> tuple[str, str | None]:
    """The decision and the kind of policy it came from (for messages).

    - `session_policy`: when given, identity permissions are those allowed by both.
    - `resource_policy` with `principal`: a resource-based policy. Cross-account (the
      principal's account differs from `resource_account`, by default the resource ARN's),
      both it and the identity side must allow. Same account, an Allow naming the user or
      session ARN suffices alone; naming the role suffices unless the session policy does
      not allow; naming the account needs the identity side too.
    - `trust_policy`: a role trust policy, which must allow in every case, and where a
      Principal of "*" counts as naming the account, not as a direct grant.
    - `direct_grant=False`: the identity side must allow even when the resource policy names
      the caller (AWS requires both for sts:SetSourceIdentity when chaining roles).
    """
    ctx = normalize_context(request.context)
    id_deny, id_allow, _ = _scan(identity_policies, request, ctx)
    if id_deny:
        return EXPLICIT_DENY, IDENTITY
    session_allow = True
    if session_policy is not None:
        s_deny, session_allow, _ = _scan([session_policy], request, ctx)
        if s_deny:
            return EXPLICIT_DENY, SESSION
    kinds: set[str] = set()
    if resource_policy is not None and principal is not None:
        r_deny, _, kinds = _scan([resource_policy], request, ctx, principal)
        if r_deny:
            return EXPLICIT_DENY, RESOURCE
    identity_ok = id_allow and session_allow
    why_not = IDENTITY if not id_allow else SESSION
    if resource_policy is None or principal is None:
        return (ALLOW, None) if identity_ok else (IMPLICIT_DENY, why_not)

    if resource_account is None:
        parts = request.resource.split(":")
        resource_account = parts[4] if len(parts) > 5 else principal.account
    if not kinds:
        if trust_policy or resource_account != principal.account:
            return IMPLICIT_DENY, RESOURCE
        return (ALLOW, None) if identity_ok else (IMPLICIT_DENY, why_not)
    if resource_account != principal.account:
        return (ALLOW, None) if identity_ok else (IMPLICIT_DENY, why_not)
    if direct_grant:
        if EXACT in kinds or (ANYONE in kinds and not trust_policy):
            return ALLOW, None
        if ROLE in kinds and session_allow:
            return ALLOW, None
    return (ALLOW, None) if identity_ok else (IMPLICIT_DENY, why_not)


def evaluate(request: Request, identity_policies: Sequence[Any] = (), session_policy: Any = None, resource_policy: Any = None, principal: Principal | None = None, **kwargs: Any) -> str:
    """ALLOW, EXPLICIT_DENY or IMPLICIT_DENY (see `decide`)."""
    return decide(request, identity_policies, session_policy, resource_policy, principal, **kwargs)[0]
