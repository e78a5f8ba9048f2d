"""Schemathesis hooks for scripts/fuzz (loaded with SCHEMATHESIS_HOOKS): the API's own rules.

- `problem_details`: every 4xx is `application/problem+json` whose `type` is one of
  docs/problems.md's, answered with the status that document gives it.
- `positive_refusals`: schema-valid data is refused only for a reason that fits the request;
  which 409 and 422 problem types each operation may answer is POSITIVE_REFUSALS, below. A 403
  to a caller the operation allows is accepted only where the contract documents it for that
  caller: on the session operations, no access group covering the start, someone else's
  session, one's own request to decide, a request whose approver groups the caller is in none
  of (each looked up: the session as the admin reads it, the caller's groups from `/me`).
- `caller_conformance`: a caller the operation's `x-allowed` leaves out gets 403 (Slack's
  endpoints, which take no bearer token: 401 unless signed with Slack's secret), whatever it
  sends.
- The user phase (CIB_FUZZ_ROLE=user) expects exactly that 403 from `positive_data_acceptance`
  on those operations, in place of schemathesis.toml's admin statuses.
- `after_call`: each answer's operation and status, appended to CIB_FUZZ_COUNTS (when set), for
  scripts/fuzz_counts.py's per-operation 2xx counts.
- Real resources: POST /accounts sometimes registers one of the local runner's seeded AWS
  accounts; scripts/fuzz_setup.py seeds the rest (CIB_FUZZ_SEEDED): half of the valid session
  starts go to its sessions account (JIT starts on its automatic or its approval role, shell
  starts on its instance), half of the valid cases of the operations it lists go to its
  sessions, pending requests, break-glass sessions, transcript, Slack links, accounts and users
  (`steer_to_seeded`), and half of the valid Slack commands and clicks are signed with the
  local runner's signing secret (`before_call` signs the exact bytes sent).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import schemathesis
import yaml
from hypothesis import strategies as st
from schemathesis.config import OperationConfig

ROOT = Path(__file__).resolve().parent.parent
ROLE = os.environ.get("CIB_FUZZ_ROLE", "admin")
assert ROLE in ("admin", "user"), f"CIB_FUZZ_ROLE must be admin or user, not {ROLE!r}"

TYPE_PREFIX = "tag:cloud-iam-broker,2026:problem/"


def _problem_statuses() -> dict[str, int]:
    """docs/problems.md's table: problem name -> HTTP status."""
    rows = re.findall(r"^\| `([a-z-]+)` \| (\d{3}) \|", (ROOT / "docs/problems.md").read_text(), re.M)
    assert rows, "docs/problems.md lists no problem types"
    return {name: int(status) for name, status in rows}


PROBLEMS = _problem_statuses()
CONTRACT = yaml.safe_load((ROOT / "infra/openapi.yaml").read_text())
# operationId -> (method, the `x-allowed` list, the documented response statuses)
OPERATIONS = {
    op["operationId"]: (method.upper(), op["x-allowed"], {int(s) for s in op["responses"]})
    for item in CONTRACT["paths"].values()
    for method, op in item.items()
    if method != "parameters"
}


# What a schema cannot say about a group: which accounts are registered (and which OU ids a
# registered organization has), which approver groups exist, and that break-glass lasts no longer
# than the policy's maximum.
GROUP_REFERENCES = {"accounts", "policy.approval.approver_group_ids", "policy.break_glass.max_duration_seconds"}


def _accounts_only(problem: dict) -> bool:
    """A validation problem naming only what a schema cannot check (see GROUP_REFERENCES)."""
    fields = {e.get("field") for e in problem.get("errors", [])}
    return bool(fields) and fields <= GROUP_REFERENCES


def _other_account_roles(problem: dict) -> bool:
    """A validation problem naming only roles of another AWS account than the registration's."""
    errors = problem.get("errors", [])
    return bool(errors) and all(
        re.fullmatch(r"allowed_role_arns\[\d+\]", e.get("field", "")) and "not this account" in e.get("message", "")
        for e in errors
    )


def _shell_rules_beyond_schema(problem: dict) -> bool:
    """A validation problem naming only the shell settings' rules across fields: the role's
    account, a role that is also a JIT role, 1 to 50 tags and ids together, a default OS user where users have their own, and
    CloudWatch streaming without a log group."""
    allowed = {
        # Another account's role, or one the account's JIT settings also allow (the fuzzer puts
        # generated role ARNs in both).
        "role_arn": ("not this account", "cannot be both the shell role and a JIT role"),
        "targets": "",
        "run_as.default_user": "is required when",
        "recording.cloudwatch_streaming": "needs a cloudwatch_log_group",
    }
    errors = problem.get("errors", [])
    def fits(e: dict) -> bool:
        expected = allowed.get(e.get("field"))
        expected = (expected,) if isinstance(expected, str) else expected or ()
        return any(text in e.get("message", "") for text in expected)

    return bool(errors) and all(fits(e) for e in errors)


# What schema-valid data may be refused with, as 409 or 422, per operation: problem name -> why
# (or, where only some of the problem's causes apply, a test of the problem body). The statuses
# themselves are in schemathesis.toml; an operation missing here may answer neither to valid data.
POSITIVE_REFUSALS: dict[str, dict[int, dict[str, object]]] = {
    "registerAccount": {
        409: {"already-registered": "the seeded AWS accounts are registered again and again"},
        422: {
            "invalid-credentials": "generated keys and roles do not exist in AWS",
            "account-mismatch": "a role ARN naming another account than the one its credentials reach",
        },
        # Not `validation`: the schema describes every field the API checks.
    },
    "updateAccount": {
        409: {"concurrent-update": "another request changed the account between read and write"},
        422: {
            "invalid-credentials": "new credentials are checked with STS, as on registration",
            "account-mismatch": "new credentials must reach the same AWS account",
        },
        # Not `validation`: fields that are all null are "unchanged", not an error.
    },
    "deleteAccount": {409: {"account-in-use": "the account still has provisioned users or live sessions"}},
    "listShellTargets": {422: {"shell-disabled": "the account's shell settings are absent or off (the admin phase may turn them off)"}},
    "registerOrganization": {
        409: {"organization-registered": "the seeded organization is registered again"},
        422: {
            "invalid-credentials": "generated roles do not exist in AWS, or are not named OrganizationRoleName",
            "external-id-not-issued": "a generated ExternalId was never issued (met once the role's name fits)",
            "not-organization-admin": "the role's account is neither the management account nor a delegated administrator",
            "own-account": "a role ARN in the broker's own AWS account",
        },
        # Not `validation`: the schema describes every field the API checks.
    },
    "deleteOrganization": {409: {"organization-in-use": "a group names one of its OUs"}},
    "setOrganizationIdentityCenter": {
        422: {
            "invalid-credentials": "a generated administering account has no broker role (AssumeRole refused)",
            "no-identity-center": "a generated instance ARN names no instance of the administering account",
        },
    },
    "syncOrganization": {
        422: {
            "invalid-credentials": "AssumeRole into the organization's role refused now",
            "not-organization-admin": "Organizations refused the discovery now",
        },
    },
    "enableOrganizationAccount": {
        409: {"already-registered": "the member account is already registered (enabled before, or alone)"},
        422: {
            "account-closed": "the member account is suspended, pending closure or closed",
            "invalid-credentials": "the member role is not deployed there, or does not trust the broker",
            "own-account": "the broker's own AWS account is a member of the organization",
        },
    },
    "verifyEvidence": {422: {"invalid-range": "generated dates may run backwards or span more than 31 days"}},
    "putJitSettings": {
        # The schema takes any role ARN; the account it must be in is the registration's.
        422: {
            "validation": _other_account_roles,
            "duplicate-role": "two ARNs of one role, spelled apart (case, path), which uniqueItems does not see",
        },
    },
    "putShellSettings": {
        422: {"validation": _shell_rules_beyond_schema},
    },
    "provisionUser": {
        409: {
            "user-exists": "the e-mail or user name is already provisioned or imported, or taken in IAM",
            "in-progress": "another request is changing this user",
            "idempotency-in-progress": "the same Idempotency-Key is still running",
        },
        422: {
            "aws-refused": "a generated policy ARN or IAM group that does not exist",
            "idempotency-key-reused": "the same Idempotency-Key with another body",
        },
    },
    "importUsers": {422: {"aws-refused": "AWS refused to list the account's IAM users"}},
    "deprovisionUser": {
        409: {
            "imported-user": "imported users are never changed",
            "not-provisioned": "the user is not in a state deprovisioning finishes",
            "in-progress": "another request is changing this user",
            "user-has-live-sessions": "its sessions' credentials would outlive the user",
        },
        422: {"aws-refused": "AWS refused a removal step"},
    },
    "rotateCredential": {
        409: {
            "imported-user": "imported users are never changed",
            "not-provisioned": "only a provisioned user has a credential to rotate",
            "in-progress": "another request is changing this user",
            "idempotency-in-progress": "the same Idempotency-Key is still running",
        },
        422: {
            "aws-refused": "AWS refused a key step (e.g. the two-key limit)",
            "idempotency-key-reused": "the same Idempotency-Key on another user's path",
        },
    },
    "createGroup": {
        409: {"group-name-taken": "generated names repeat, case-insensitively"},
        # Generated ids fit the pattern but name no registered account.
        422: {"validation": _accounts_only},
    },
    "updateGroup": {
        409: {
            "group-name-taken": "another group has the new name",
            "concurrent-update": "another request changed the group between read and write",
        },
        422: {"validation": _accounts_only},
    },
    "startSession": {
        409: {
            "ended-while-starting": "the session was ended while it started",
            "idempotency-in-progress": "the same Idempotency-Key is still running",
        },
        422: {
            "invalid-duration": "under 900 s is impossible by schema, but over the account's or role's maximum is not",
            "role-not-allowed": "a role the JIT settings do not allow or IAM lacks, or one for a console session",
            "jit-disabled": "the account's JIT settings are off (the default)",
            "account-inactive": "the account's JIT settings are inactive (the default)",
            "user-not-eligible": "the caller has no broker-provisioned IAM user there",
            "console-session-live": "one console session per user and account",
            "shell-disabled": "the account has no shell settings, or they are off (the default)",
            "target-not-found": "a generated instance id names nothing in the account",
            "target-not-allowed": "outside the shell settings' selector",
            "target-not-running": "the instance is not running",
            "target-not-managed": "the SSM Agent is not registered or has no instance profile",
            "agent-too-old": "the SSM Agent is older than recording needs",
            "shell-preferences-drift": "the account's Session Manager preferences document differs from its shell settings",
            "aws-refused": "AWS refused a grant step",
            "idempotency-key-reused": "the same Idempotency-Key with another body",
        },
    },
    "approveRequest": {
        409: {
            "request-not-pending": "a generated id names a decided or active session",
            "already-approved": "the same approver again",
            "concurrent-update": "too many decisions racing",
        },
        422: {
            "invalid-duration": "the completing approval checks the start again",
            "role-not-allowed": "the completing approval checks the start again",
            "jit-disabled": "the completing approval checks the start again",
            "account-inactive": "the completing approval checks the start again",
            "user-not-eligible": "the completing approval checks the start again",
            "shell-disabled": "the completing approval checks the start again",
            "target-not-found": "a generated instance id names nothing in the account",
            "target-not-allowed": "outside the shell settings' selector",
            "target-not-running": "the instance is not running",
            "target-not-managed": "the SSM Agent is not registered or has no instance profile",
            "agent-too-old": "the SSM Agent is older than recording needs",
            "shell-preferences-drift": "the completing approval checks the start again",
            "aws-refused": "AWS refused a grant step",
        },
    },
    "denyRequest": {
        409: {
            "request-not-pending": "the request was decided or lapsed",
            "concurrent-update": "too many decisions racing",
        }
    },
    "cancelRequest": {
        409: {
            "request-not-pending": "the request was decided or lapsed",
            "concurrent-update": "too many decisions racing",
        }
    },
    "extendSession": {
        409: {
            "session-not-active": "only active sessions are extended",
            "extension-pending": "an extension is already waiting for approval",
            "ended-while-extending": "the session was ended while it was extended",
            "idempotency-in-progress": "the same Idempotency-Key is still running",
        },
        422: {
            "invalid-duration": "beyond the grant's or the role's maximum",
            "account-inactive": "the account's JIT settings became inactive",
            "user-not-eligible": "the IAM user lost its credential",
            "not-extendable": "shell sessions are not extended",
            "aws-refused": "AWS refused a grant step",
            "idempotency-key-reused": "the same Idempotency-Key with another body",
        },
    },
    "reviewSession": {
        409: {
            "request-not-pending": "the session is still ending (the stateful phase's links end what listings show): reviewed once it has ended",
            "already-reviewed": "reviewed once",
            "not-break-glass": "only break-glass sessions are reviewed",
            "concurrent-update": "too many reviews racing",
        }
    },
}

# Where schema-valid data may be answered 403 although the caller may call the operation.
# Allowed to every signed-in person, yet only the one a Slack link names may confirm it: a 403
# for anyone else is the point of the operation (docs/identity.md).
CONFIRMED_BY_THE_NAMED = {"confirmSlackLink"}

# --- Which 403s the contract documents for a caller the operation allows. ----------------------

ADMIN_TOKEN = os.environ.get("CIB_FUZZ_ADMIN_TOKEN")


def _api(path: str, token: str, body: dict | None = None) -> tuple[int, object]:
    """GET `path` from the API under test with `token` (POST `body` as JSON, if given): the
    status and the JSON body."""
    headers = {"Authorization": "Bearer " + token}
    if body is not None:
        headers["Content-Type"] = "application/json"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(os.environ["CIB_FUZZ_URL"] + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None


def _token_of(response) -> str:
    auth = response.request.headers.get("Authorization", "")
    return auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""


def _email_of(token: str) -> str | None:
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("email")
    except (IndexError, ValueError):
        return None


_GROUPS: dict[str, set[str]] = {}


def _groups_of(token: str) -> set[str]:
    """The caller's access groups, as `GET /me` gives them (kept: the fuzzer changes no one's)."""
    if token not in _GROUPS:
        status, me = _api("/me", token)
        _GROUPS[token] = {g["id"] for g in me["groups"]} if status == 200 else set()
    return _GROUPS[token]


def _deciding_request(session: dict) -> dict | None:
    """The request a decision is about, as the API picks it: the start's while the session is
    pending, an active session's pending extension; none otherwise (409 request-not-pending)."""
    if session.get("status") == "pending":
        return session.get("request")
    if session.get("status") == "active":
        return (session.get("pending_extension") or {}).get("approval")
    return None


VIEWS = {"getSession", "endSession", "getSessionLog", "getSessionActivity", "getTranscript"}


def _documented_session_refusal(operation: str, case, response) -> str | None:
    """Why the contract lets this caller be refused here (infra/openapi.yaml, each operation's
    description), or None. The session is read as the admin reads it; without a session (or an
    admin token to read it with) no 403 is documented."""
    if operation in ("startSession", "listShellTargets"):
        # "needs a group granting ..." (every kind), and break-glass where no grant allows it.
        detail = str(_problem(response).get("detail", ""))
        return "no access group covers this start" if "access group" in detail else None
    if operation in ("listSessions", "listRequests", "listReviews"):
        return None  # one's own, or what one may decide: never refused
    session_id = (case.path_parameters or {}).get("id")
    if ADMIN_TOKEN is None or not session_id:
        return None
    status, session = _api(f"/sessions/{session_id}", ADMIN_TOKEN)
    if status != 200 or not isinstance(session, dict):
        return None
    token = _token_of(response)
    caller = (_email_of(token) or "").lower()
    own = caller != "" and str(session.get("user", "")).lower() == caller
    if operation in VIEWS:
        # "the owner, an admin" (transcripts: "neither the session's owner nor an admin").
        return "someone else's session" if ROLE != "admin" and not own else None
    if operation in ("cancelRequest", "extendSession"):
        return "only the session's own user" if not own else None
    if operation in ("approveRequest", "denyRequest"):
        if own:
            return "never the session's own user"
        request = _deciding_request(session)
        if request is None:
            return None  # nothing pending: 409 request-not-pending, not 403
        if not set(request.get("approver_group_ids") or []) & _groups_of(token):
            return "in none of the request's approver groups"
        # "The approval that completes the request checks the start again as it stands now":
        # the start's own 403, the requester no longer covered (the admin phase edits groups).
        detail = str(_problem(response).get("detail", ""))
        if operation == "approveRequest" and "access group" in detail:
            return "the completing approval checks the start again: no access group covers it now"
        return None
    if operation == "reviewSession":
        # Reviewers are the approver groups of the grants that allowed the break-glass start,
        # which the API does not show; the seeded grant allowing break-glass names none, so
        # admins review (scripts/fuzz_setup.py).
        if own:
            return "never the session's own user"
        return "not a reviewer (admins review the seeded break-glass sessions)" if ROLE != "admin" else None
    return None


SESSION_OPERATIONS = {
    "startSession",
    "listShellTargets",
    "listSessions",
    "getSession",
    "endSession",
    "getSessionLog",
    "getSessionActivity",
    "getTranscript",
    "approveRequest",
    "denyRequest",
    "cancelRequest",
    "extendSession",
    "reviewSession",
    "listRequests",
    "listReviews",
}


def _operation_id(case) -> str:
    return case.operation.definition.raw.get("operationId", "")


def _is_positive(case) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


def _sends_on_behalf_of(case) -> bool:
    body = case.body if isinstance(case.body, dict) else {}
    return (case.query or {}).get("on_behalf_of") is not None or body.get("on_behalf_of") is not None


def _problem(response) -> dict:
    """The problem body of a 4xx, or a failure saying why it is not one."""
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if content_type.split(";")[0].strip() != "application/problem+json":
        raise AssertionError(f"a {response.status_code} must be application/problem+json, not {content_type!r}")
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"a {response.status_code} must carry a JSON problem") from None
    if not isinstance(body, dict):
        raise AssertionError("a problem must be a JSON object")
    return body


def _problem_name(response, body: dict) -> str:
    kind = body.get("type")
    if not isinstance(kind, str) or not kind.startswith(TYPE_PREFIX) or kind[len(TYPE_PREFIX) :] not in PROBLEMS:
        raise AssertionError(f"problem type {kind!r} is not one of docs/problems.md's")
    return kind[len(TYPE_PREFIX) :]


@schemathesis.check
def problem_details(ctx, response, case):
    """Every 4xx is a documented RFC 9457 problem, with the status docs/problems.md gives it."""
    if not 400 <= response.status_code < 500:
        return None
    body = _problem(response)
    name = _problem_name(response, body)
    if PROBLEMS[name] != response.status_code:
        raise AssertionError(f"{name} is documented as {PROBLEMS[name]}, answered {response.status_code}")
    if body.get("status") != response.status_code:
        raise AssertionError(f"the problem says status {body.get('status')!r}, the answer is {response.status_code}")
    for key in ("title", "detail"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise AssertionError(f"the problem has no {key}")
    return None


# The operations that assume a role for the caller, and so may meet IAM applying a change.
ASSUMING = {"startSession", "approveRequest", "extendSession"}


@schemathesis.check
def no_server_error(ctx, response, case):
    """No 5xx, but the documented 503 `not-yet-in-effect` (with Retry-After) where a role is assumed
    (in place of schemathesis's `not_a_server_error`, excluded in scripts/fuzz)."""
    if response.status_code < 500:
        return None
    if response.status_code == 503 and _operation_id(case) in ASSUMING:
        body = _problem(response)
        if _problem_name(response, body) == "not-yet-in-effect" and response.headers.get("retry-after"):
            return None
    raise AssertionError(f"server error {response.status_code}: {response.text[:300]}")


@schemathesis.check
def positive_refusals(ctx, response, case):
    """Schema-valid data is refused (409, 422, or 403 by an allowed caller) only for a reason that fits."""
    operation = _operation_id(case)
    if not _is_positive(case) or operation not in OPERATIONS or case.method.upper() != OPERATIONS[operation][0]:
        return None
    status = response.status_code
    if status == 403 and ROLE in OPERATIONS[operation][1]:
        if operation in CONFIRMED_BY_THE_NAMED:
            return None
        if operation not in SESSION_OPERATIONS:
            raise AssertionError(f"{ROLE} may call {operation}, yet was refused")
        # `on_behalf_of` is for bots only: anyone else sending it is refused, whatever it names.
        if _sends_on_behalf_of(case):
            return None
        if _documented_session_refusal(operation, case, response) is None:
            detail = _problem(response).get("detail")
            raise AssertionError(
                f"403 on {operation} for the {ROLE}, where the contract documents none for this caller: {detail!r}"
            )
        return None
    if status not in (409, 422):
        return None
    body = _problem(response)
    name = _problem_name(response, body)
    allowed = POSITIVE_REFUSALS.get(operation, {}).get(status, {})
    if name not in allowed:
        raise AssertionError(
            f"valid data refused with {status} {name}, which {operation} may not answer to valid data "
            f"(allowed: {', '.join(allowed) or 'none'}): {body.get('detail')!r} {body.get('errors', '')}"
        )
    reason = allowed[name]
    if callable(reason) and not reason(body):
        raise AssertionError(
            f"valid data refused with {status} {name} for a reason {operation} may not give: "
            f"{body.get('detail')!r} {body.get('errors', '')}"
        )
    return None


@schemathesis.check
def caller_conformance(ctx, response, case):
    """A caller outside the operation's `x-allowed` is refused before anything else is looked at."""
    operation = _operation_id(case)
    if operation not in OPERATIONS or case.method.upper() != OPERATIONS[operation][0]:
        return None
    allowed = OPERATIONS[operation][1]
    # A case that sends its own Authorization header is about authentication, not this; a Slack
    # request signed with the signing secret is from the caller Slack's endpoints allow.
    if ROLE in allowed or "authorization" in {name.lower() for name in (case.headers or {})}:
        return None
    if allowed == ["slack"] and _signed_by_slack(response):
        return None
    expected = 401 if allowed == ["slack"] else 403
    if response.status_code != expected:
        raise AssertionError(f"x-allowed is {allowed}: a {ROLE} must get {expected}, got {response.status_code}")
    return None


# --- What each operation answered, for scripts/fuzz_counts.py. ----------------------------------

COUNTS = os.environ.get("CIB_FUZZ_COUNTS")


@schemathesis.hook
def after_call(context, case, response):
    if COUNTS:
        with open(COUNTS, "a", encoding="utf-8") as out:
            kind = ""
            if 400 <= response.status_code < 500:
                try:
                    kind = str(response.json().get("type", "")).rsplit("/", 1)[-1]
                except Exception:  # noqa: BLE001 - the checks report bodies that are no problem
                    kind = "?"
            out.write(f"{ROLE}\t{_operation_id(case) or case.method + ' ' + case.path}\t{response.status_code}\t{kind}\n")


# --- The user phase: admin-only operations answer 403, whatever the data (Slack's, 401). -------


@schemathesis.hook
def after_load_schema(context, schema):
    _check_config_against_contract(schema)
    if ROLE != "user":
        return
    overrides = [
        OperationConfig.from_dict(
            {
                "include-operation-id": operation,
                "checks": {"positive_data_acceptance": {"expected-statuses": [401 if allowed == ["slack"] else 403]}},
            }
        )
        for operation, (_, allowed, _) in OPERATIONS.items()
        # Slack's endpoints take no bearer token: the user phase gets what the admin's does.
        if "user" not in allowed and allowed != ["slack"]
    ]
    # The first matching `[[operations]]` entry wins, so these go before schemathesis.toml's.
    operations = schema.config.operations
    operations.operations[:0] = overrides
    operations._cache.clear()


def _check_config_against_contract(schema) -> None:
    """schemathesis.toml, POSITIVE_REFUSALS and the contract agree: a drift fails at load."""
    problems = []
    for result in schema.get_all_operations():
        operation = result.ok()
        op_id = operation.definition.raw["operationId"]
        documented = OPERATIONS[op_id][2]
        statuses = schema.config.checks_config_for(operation=operation).positive_data_acceptance.expected_statuses
        numeric = {int(s) for s in statuses if s.isdigit()}
        if not numeric <= documented:
            problems.append(f"{op_id}: schemathesis.toml accepts {sorted(numeric - documented)}, not documented")
        for status in (409, 422):
            if (status in numeric) != bool(POSITIVE_REFUSALS.get(op_id, {}).get(status)):
                problems.append(f"{op_id}: {status} in schemathesis.toml and in POSITIVE_REFUSALS disagree")
        for status, names in POSITIVE_REFUSALS.get(op_id, {}).items():
            for name in names:
                if PROBLEMS.get(name) != status:
                    problems.append(f"{op_id}: {name} is not a {status} in docs/problems.md")
    if problems:
        raise AssertionError("fuzz configuration drifted:\n  " + "\n  ".join(problems))


# --- Real accounts for the stateful phase. -----------------------------------------------------

# The local runner seeds four AWS accounts, each with a role the broker may assume
# (local/src/local_aws.rs: BROKER_ACCESS_ROLE, trusting any ExternalId the broker issues, `cib-*`):
# local fixtures, not secrets. Each registration asks the API for its ExternalId first, as an
# admin does (scripts/fuzz exports where the API is and the admin's token). Generated
# credentials never exist, so without these no registration succeeds and no link from POST
# /accounts is ever followed. The first is registered by the phases before the stateful one,
# and stays (once it has users, deleting it is refused); the second is kept for the stateful
# phase, so that its first registration is new and its links are followed; the third and the
# fourth are scripts/fuzz_setup.py's, for sessions and for settings.
def _issued_external_id() -> str:
    req = urllib.request.Request(
        os.environ["CIB_FUZZ_URL"] + "/accounts/external-ids",
        method="POST",
        headers={"Authorization": "Bearer " + os.environ["CIB_FUZZ_ADMIN_TOKEN"]},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)["external_id"]


def _seeded_role(aws_account: str) -> dict:
    return {
        "type": "assume_role",
        "role_arn": f"arn:aws:iam::{aws_account}:role/CloudIamBrokerAccess",
        "external_id": _issued_external_id(),
    }


@schemathesis.hook("flatmap_case").apply_to(method="POST", path="/accounts")
def register_seeded_accounts(context, case):
    if not _is_positive(case) or not isinstance(case.body, dict) or "credentials" not in case.body:
        return st.just(case)
    stateful = case.meta.phase.name == "stateful"

    def with_seeded(use):
        if use:
            case.body = {**case.body, "credentials": _seeded_role("210000000002" if stateful else "210000000001")}
        return case

    # Half of the valid registrations: the first registers the account, later ones meet 409
    # already-registered (until a DELETE frees it again).
    return st.booleans().map(with_seeded)


# --- What scripts/fuzz_setup.py seeded, and the valid cases steered to it. -------------------


def _read_json(path: str | os.PathLike | None) -> dict:
    return json.loads(Path(path).read_text()) if path and Path(path).is_file() else {}


SEEDED = _read_json(os.environ.get("CIB_FUZZ_SEEDED"))
SESSIONS_ACCOUNT = SEEDED.get("sessions_account")
SETTINGS_ACCOUNT = SEEDED.get("settings_account")
# operationId -> the path parameters this caller's valid cases may be steered to.
PATHS: dict[str, list[dict]] = {op: by_caller.get(ROLE, []) for op, by_caller in SEEDED.get("paths", {}).items()}


def _is_stateful(case) -> bool:
    return case.meta is not None and case.meta.phase.name == "stateful"


# Half of the valid session starts go to the seeded sessions account (generated account ids name
# nothing): JIT starts on its automatic role (201, or break-glass: 201 flagged for review) or, a
# quarter of them, its approval role (202 pending); shell starts on its instance (201). Its
# groups cover the user (and bob), not the admin: the admin's are 403. A user has one console
# session per account at a time, and a live one refuses JIT and shell starts, so console starts
# go there only in the stateful phase, whose links end what they start; that phase's starts all
# go there, so that its links lead somewhere real.
# A start's field -> the one kind that takes it.
OTHER_KINDS_FIELDS = {"role_arn": "jit", "target": "shell", "permission_set_arn": "identity_center"}


@schemathesis.hook("flatmap_case").apply_to(method="POST", path="/sessions")
def start_sessions_on_the_open_account(context, case):
    if SESSIONS_ACCOUNT is None or not _is_positive(case) or not isinstance(case.body, dict):
        return st.just(case)
    stateful = _is_stateful(case)
    kind = case.body.get("type")
    target = SESSIONS_ACCOUNT.get("shell_target")  # None: fuzz_setup.py could not make one
    if not stateful and not (kind == "jit" or (kind == "shell" and target)):
        # Outside the stateful phase a console start would hold the user's console lock (and
        # refuse the later starts) and Identity Center's have no seeded grant: steered, these
        # become JIT starts, so that half of the valid starts reach a grant whatever the kind.
        kind = "jit"
    roles = [SESSIONS_ACCOUNT["automatic_role_arn"]] * 3 + [SESSIONS_ACCOUNT["approval_role_arn"]]

    def on_account(choice):
        steer, role = choice
        if steer:
            body = {**case.body, "account_id": SESSIONS_ACCOUNT["id"], "type": kind}
            # The seeded roles allow an hour: a generated duration may ask for more (422
            # invalid-duration), a quarter of an hour never does.
            body["duration_seconds"] = 900
            if kind == "jit":
                body["role_arn"] = role
            elif kind == "shell" and target:
                body["target"] = target
            # The schema lets every kind carry the others' fields, which the API refuses (422
            # `validation`: "is only for shell sessions"): a steered start names its own kind's
            # only, or no start would ever reach the grant.
            for field, owner in OTHER_KINDS_FIELDS.items():
                if kind != owner:
                    body.pop(field, None)
            case.body = body
            # Generated Idempotency-Keys repeat ("0", "a") across bodies, which the API refuses
            # as a key reused for another request (422 idempotency-key-reused: 14 of one run's
            # steered starts). A steered start's key is made its own: the generated key with
            # its body's digest, so only the same request repeats it.
            key = _header(case.headers, "Idempotency-Key")
            if key is not None:
                digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
                _set_header(case, "Idempotency-Key", f"{str(key)[:200]}-{digest}")
        return case

    return st.tuples(st.just(True) if stateful else st.booleans(), st.sampled_from(roles)).map(on_account)


_ROLE_ARN = re.compile(r"^arn:[^:]+:iam::[0-9]{12}:(role/.+)$")


def _in_settings_account(arn: object) -> object:
    """A generated role ARN, moved into the settings account (partition `aws`), name and path kept."""
    match = _ROLE_ARN.match(arn) if isinstance(arn, str) else None
    return f"arn:aws:iam::{SETTINGS_ACCOUNT['aws_account_id']}:{match.group(1)}" if match else arn


def _jit_roles_there(case) -> None:
    if isinstance(case.body, dict) and isinstance(case.body.get("allowed_role_arns"), list):
        moved = [_in_settings_account(a) for a in case.body["allowed_role_arns"]]
        # Still unique (uniqueItems), so that the case stays valid.
        case.body = {**case.body, "allowed_role_arns": list(dict.fromkeys(moved))}


def _shell_role_there(case) -> None:
    if isinstance(case.body, dict) and "role_arn" in case.body:
        case.body = {**case.body, "role_arn": _in_settings_account(case.body["role_arn"])}


def _own_region(case) -> None:
    # The seeded sessions' account is in us-east-1; a generated Region is one AWS has not.
    if case.query and case.query.get("region") is not None:
        case.query = {**case.query, "region": "us-east-1"}


# What else a steered case needs to fit what it is steered to: roles in the settings account
# (generated ARNs name random accounts, 422 `validation`), the sessions' own Region.
def _short_extension(case) -> None:
    # The seeded session's role allows 12 h and the session has an hour: a generated extension
    # may ask STS for more than the role allows (422 aws-refused), a quarter of an hour never does.
    if isinstance(case.body, dict) and "duration_seconds" in case.body:
        case.body = {**case.body, "duration_seconds": 900}


def _identity_center_region(case) -> None:
    # The seeded organization's Identity Center is in us-east-1, administered by its management
    # account with its one instance: a generated Region, account or instance names none.
    if isinstance(case.body, dict):
        case.body = {"region": "us-east-1"}


# Every valid Identity Center set-up (the stateful phase's too) names a Region AWS has: IAM
# Identity Center in a Region that does not exist cannot be reached (on AWS its endpoint does
# not resolve; the local AWS answers 500), which the broker answers 503 `unavailable`, as for
# any AWS it cannot reach. The rest of the body stays generated.
@schemathesis.hook("flatmap_case").apply_to(method="PUT", path="/organizations/{id}/identity-center")
def identity_center_in_a_real_region(context, case):
    if _is_positive(case) and isinstance(case.body, dict):
        case.body = {**case.body, "region": "us-east-1"}
    return st.just(case)


FITTING = {
    "extendSession": _short_extension,
    "setOrganizationIdentityCenter": _identity_center_region,
    "putJitSettings": _jit_roles_there,
    "putShellSettings": _shell_role_there,
    "getSessionActivity": _own_region,
}


# Half of the valid cases of each operation fuzz_setup.py lists go to what it seeded (generated
# ids name nothing): the user's sessions, pending requests, break-glass sessions and transcript,
# bob's session and request (the user's documented 403s), the caller's own Slack link, the
# seeded accounts and users, and an e-mail bound to a sign-in. Not in the stateful phase, whose
# links carry ids of their own.
@schemathesis.hook("flatmap_case")
def steer_to_seeded(context, case):
    operation = _operation_id(case)
    choices = PATHS.get(operation)
    if not choices or not _is_positive(case) or _is_stateful(case):
        return st.just(case)

    def steered(params):
        if params is not None:
            case.path_parameters = {**(case.path_parameters or {}), **params}
            if operation in FITTING:
                FITTING[operation](case)
        return case

    if operation in EVERY_VALID_CASE:
        return st.sampled_from(choices).map(steered)
    return st.one_of(st.just(None), st.sampled_from(choices)).map(steered)


# Operations with few valid cases (a path id and nothing else), all steered: the first deletion
# of the seeded account is its 2xx, the later ones its documented 404.
# Every valid case, not half: the few seeded targets must meet a valid case before the phase's
# other writes (or its stateful links) decide or delete them.
EVERY_VALID_CASE = {"deleteAccount", "denyRequest"}


# --- Signed Slack requests. ---------------------------------------------------------------------

# Slack's signing secret, workspace and response-URL prefix, as the local runner wrote them
# (local-secrets.json, beside its state in CIB_LOCAL_DIR). Half of the valid commands and clicks
# are marked here, from the configured workspace with a response URL the API accepts (otherwise
# 403 or 400, as documented), and signed in `before_call` over the exact bytes sent: a
# generated signature never verifies (401). Members are not linked, so nothing runs for them.
_LOCAL_DIR = os.environ.get("CIB_LOCAL_DIR")
SLACK = _read_json(Path(_LOCAL_DIR) / "local-secrets.json").get("slack") if _LOCAL_DIR else None
SIGNATURE, TIMESTAMP = "X-Slack-Signature", "X-Slack-Request-Timestamp"
TO_SIGN = "v0=signed-by-before-call"


def _header(headers, name: str):
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return value
    return None


def _set_header(case, name: str, value: str) -> None:
    headers = case.headers if case.headers is not None else {}
    for key in [k for k in headers if k.lower() == name.lower()]:
        del headers[key]
    headers[name] = value
    case.headers = headers


def _slack_signature(timestamp: str, body: bytes) -> str:
    mac = hmac.new(SLACK["signing_secret"].encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
    return "v0=" + mac.hexdigest()


def _signed_by_slack(response) -> bool:
    """Whether the request sent carries a valid signature of the local runner's secret."""
    if SLACK is None:
        return False
    timestamp, signature = _header(response.request.headers, TIMESTAMP), _header(response.request.headers, SIGNATURE)
    body = response.request.body or b""
    body = body.encode() if isinstance(body, str) else body
    return bool(timestamp and signature) and hmac.compare_digest(signature, _slack_signature(timestamp, body))


def _form_bytes(case) -> bytes:
    """The body as the requests transport would send it: the form fields as schemathesis
    prepares them (`prepare_body`), encoded as requests encodes `data` (its `_encode_params`)."""
    from requests.models import RequestEncodingMixin
    from schemathesis.transport.prepare import prepare_body

    prepared = prepare_body(case)
    if prepared is None:
        return b""
    if isinstance(prepared, Mapping):
        encoded = RequestEncodingMixin._encode_params(prepared)
    elif isinstance(prepared, (str, bytes)):
        encoded = prepared
    else:
        encoded = json.dumps(prepared)
    return encoded.encode() if isinstance(encoded, str) else encoded


@schemathesis.hook("flatmap_case").apply_to(method="POST", path="/chatops/slack/commands")
def signed_slack_commands(context, case):
    if SLACK is None or not _is_positive(case) or not isinstance(case.body, dict):
        return st.just(case)

    def signed(sign):
        if sign:
            case.body = {
                **case.body,
                "team_id": SLACK["team_id"],
                "response_url": SLACK["response_url_prefix"] + "fuzz/commands",
            }
            _set_header(case, SIGNATURE, TO_SIGN)
        return case

    return st.booleans().map(signed)


@schemathesis.hook("flatmap_case").apply_to(method="POST", path="/chatops/slack/interactions")
def signed_slack_clicks(context, case):
    if SLACK is None or not _is_positive(case) or not isinstance(case.body, dict):
        return st.just(case)
    # A click names a request; the member is not linked, so it decides nothing.
    pending = [p["id"] for p in PATHS.get("approveRequest", [])] or ["01J00000000000000000000000"]

    def signed(choice):
        sign, action, session = choice
        if sign:
            payload = {
                "type": "block_actions",
                "team": {"id": SLACK["team_id"]},
                "channel": {"id": "C0APPROVALS"},
                "user": {"id": "U0FUZZCLICK"},
                "response_url": SLACK["response_url_prefix"] + "fuzz/interactions",
                "actions": [{"action_id": action, "value": session}],
            }
            case.body = {**case.body, "payload": json.dumps(payload)}
            _set_header(case, SIGNATURE, TO_SIGN)
        return case

    return st.tuples(st.booleans(), st.sampled_from(["approve", "deny"]), st.sampled_from(pending)).map(signed)


# --- A request still pending for a valid denial. ------------------------------------------------

# The stateful phase follows links from the admin's listings and approves what they show, the
# seeded requests to deny among them; on a slow machine it got to all four first (CI's seed saw
# no denial succeed). So a valid denial steered to a seeded request that is no longer pending is
# pointed at a request of bob's made on the spot (scripts/fuzz_setup.py's `request_to_deny`), a
# few times at most: the denial itself is still the generated case.
REQUEST_TO_DENY = SEEDED.get("request_to_deny")
FRESH_REQUESTS_LEFT = [4]


def _pending_request_to_deny(case) -> None:
    """Never raises: a failure here leaves the case as generated."""
    try:
        _point_at_a_pending_request(case)
    except Exception as e:  # noqa: BLE001 (the local API unreachable, an odd answer)
        print(f"fuzz_hooks: no fresh request to deny ({type(e).__name__}: {e})", flush=True)


def _point_at_a_pending_request(case) -> None:
    if REQUEST_TO_DENY is None or ADMIN_TOKEN is None or FRESH_REQUESTS_LEFT[0] <= 0:
        return
    if _operation_id(case) != "denyRequest" or not _is_positive(case) or _is_stateful(case):
        return
    session_id = (case.path_parameters or {}).get("id")
    if {"id": session_id} not in PATHS.get("denyRequest", []):
        return
    status, session = _api(f"/sessions/{session_id}", ADMIN_TOKEN)
    if status == 200 and isinstance(session, dict) and session.get("status") == "pending":
        return
    # Counted whatever the answer: the admin phase's group edits may make bob's start a grant
    # (201) or a refusal, and neither may be asked for again and again.
    FRESH_REQUESTS_LEFT[0] -= 1
    status, made = _api("/sessions", REQUEST_TO_DENY["token"], REQUEST_TO_DENY["body"])
    if status == 202 and isinstance(made, dict):
        case.path_parameters = {**case.path_parameters, "id": made["session"]["id"]}


@schemathesis.hook
def before_call(context, case, kwargs):
    """Points a valid denial at a pending request (`_pending_request_to_deny`), and signs a
    marked Slack case: the body's bytes are fixed here (sent as `data`, so that the transport
    does not encode them again) and signed with the current time."""
    _pending_request_to_deny(case)
    if SLACK is None or _header(case.headers, SIGNATURE) != TO_SIGN:
        return
    body = _form_bytes(case)
    timestamp = str(int(time.time()))
    _set_header(case, TIMESTAMP, timestamp)
    _set_header(case, SIGNATURE, _slack_signature(timestamp, body))
    kwargs["data"] = body
