"""Schemathesis hooks for scripts/fuzz (loaded with SCHEMATHESIS_HOOKS): the API's own rules.

- `problem_details`: every 4xx is `application/problem+json` whose `type` is one of
  docs/problems.md's, answered with the status that document gives it.
- `positive_refusals`: schema-valid data is refused only for a reason that fits the request;
  which 409 and 422 problem types each operation may answer is POSITIVE_REFUSALS, below.
- `caller_conformance`: a caller the operation's `x-allowed` leaves out gets 403 (Slack's
  endpoint, which takes no bearer token: 401), whatever it sends.
- The user phase (CIB_FUZZ_ROLE=user) expects exactly that 403 from `positive_data_acceptance`
  on those operations, in place of schemathesis.toml's admin statuses.
- Real resources: POST /accounts sometimes registers one of the local runner's seeded AWS
  accounts, and POST /sessions (user phase) sometimes names the account scripts/fuzz opened for
  sessions, so that the contract's links lead somewhere.
"""

from __future__ import annotations

import os
import re
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


# What a schema cannot say about a group: which accounts are registered, which approver groups
# exist, and that break-glass lasts no longer than the policy's maximum.
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
    account, 1 to 50 tags and ids together, a default OS user where users have their own, and
    CloudWatch streaming without a log group."""
    allowed = {
        "role_arn": "not this account",
        "targets": "",
        "run_as.default_user": "is required when",
        "recording.cloudwatch_streaming": "needs a cloudwatch_log_group",
    }
    errors = problem.get("errors", [])
    return bool(errors) and all(
        e.get("field") in allowed and allowed[e.get("field")] in e.get("message", "") for e in errors
    )


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
    "verifyEvidence": {422: {"invalid-range": "generated dates may run backwards or span more than 31 days"}},
    "putJitSettings": {
        # The schema takes any role ARN; the account it must be in is the registration's.
        422: {"validation": _other_account_roles},
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

SESSION_OPERATIONS = {
    "startSession",
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
        # Starting needs a covering group; `on_behalf_of` is for bots only; a user may see and end
        # only its own sessions. Otherwise an admin, or a user listing its own, is never refused.
        if operation == "startSession" or _sends_on_behalf_of(case):
            return None
        if ROLE == "user" and operation != "listSessions":
            return None
        raise AssertionError(f"403 on {operation} without on_behalf_of, for the {ROLE}")
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
    # A case that sends its own Authorization header is about authentication, not this.
    if ROLE in allowed or "authorization" in {name.lower() for name in (case.headers or {})}:
        return None
    expected = 401 if allowed == ["slack"] else 403
    if response.status_code != expected:
        raise AssertionError(f"x-allowed is {allowed}: a {ROLE} must get {expected}, got {response.status_code}")
    return None


# --- The user phase: admin-only operations answer 403, whatever the data. ---------------------


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
        if "user" not in allowed
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

# The local runner seeds three AWS accounts, each with a role the broker may assume
# (local/src/local_aws.rs: BROKER_ACCESS_ROLE, trusting any ExternalId the broker issues, `cib-*`):
# local fixtures, not secrets. Each registration asks the API for its ExternalId first, as an
# admin does (scripts/fuzz exports where the API is and the admin's token). Generated credentials never exist, so without these no registration succeeds and
# no link from POST /accounts is ever followed. The first is registered by the phases before the
# stateful one, and stays (once it has users, deleting it is refused); the second is kept for
# the stateful phase, so that its first registration is new and its links are followed; the
# third is scripts/fuzz's, for sessions.
def _issued_external_id() -> str:
    import json
    import urllib.request

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


# scripts/fuzz opens one registered account for sessions before the user phase (JIT settings, an
# IAM user and a group for the user's e-mail). Generated account ids name nothing, so valid
# session starts go there instead: half of the JIT ones, which pass every check up to AssumeRole
# (the seeded role does not trust the user's IAM user: 422 aws-refused), and in the stateful phase
# all of them. A user has one console session per account at a time, so console starts go there
# only in the stateful phase, whose links end what they start.
SESSION_ACCOUNT = os.environ.get("CIB_FUZZ_ACCOUNT_ID")


@schemathesis.hook("flatmap_case").apply_to(method="POST", path="/sessions")
def start_sessions_on_the_open_account(context, case):
    if SESSION_ACCOUNT is None or not _is_positive(case) or not isinstance(case.body, dict):
        return st.just(case)
    stateful = case.meta.phase.name == "stateful"
    if not stateful and case.body.get("type") != "jit":
        return st.just(case)

    def on_account(steer):
        if steer:
            case.body = {**case.body, "account_id": SESSION_ACCOUNT}
        return case

    # The stateful phase's starts only lead somewhere real: all of them go there.
    return st.just(True).map(on_account) if stateful else st.booleans().map(on_account)
