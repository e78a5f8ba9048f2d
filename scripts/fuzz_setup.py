"""Seeds the system scripts/fuzz fuzzes, so that schema-valid data reaches every state: run after
the local runner starts and before the admin phase. Talks to the API as an admin would (and as
the users, for their sessions) and to the local AWS with the seeded accounts' admin keys
(`local-secrets.json`, which local-runner writes in CIB_LOCAL_DIR).

What it makes (the hooks in scripts/fuzz_hooks.py steer generated requests to it):

- the sessions account: the runner's third seeded AWS account (210000000003), registered through
  its CloudIamBrokerAccess role, with JIT settings allowing two roles made with exactly the trust
  the API asks for (MaxSessionDuration 12 h): an automatic one (which also allows break-glass)
  and one whose group needs an approval from a group the admin (admin@example.com) is in; shell
  settings with a shell role, an EC2 instance (instance profile, SSM Agent registered through the
  local AWS's control endpoint) and a transcript bucket; the user (the token's e-mail) and a
  second user, bob@example.com, provisioned with console access and a credential, members of
  both groups;
- as the user: a JIT session to end, one to extend, two break-glass sessions to review, and six
  requests waiting for approval (two each to approve, deny and cancel); a shell session whose
  Session Manager session is opened with the session's credentials, typed in, and ended, so its
  transcript is in S3 (`getTranscript`); as bob: a JIT session and a pending request (the user's
  403s on someone else's session, and an approval for the admin);
- the settings account: the fourth seeded AWS account (210000000004), registered, with two
  provisioned users: the admin phase's JIT and shell settings, credential rotations and a
  deprovisioning go there (nothing else depends on it);
- Slack links from two members to the admin and to the user (each phase confirms its own).

Writes what the hooks need to CIB_FUZZ_SEEDED (JSON): the accounts, roles and target, and per
operation and caller the path parameters to steer to. Fails (exit 1) naming the step that did
not work, except for the shell target and the transcript, which only warn: the rest is still
worth fuzzing, and scripts/fuzz_counts.py then names what went unreached.

Environment: CIB_FUZZ_URL, CIB_FUZZ_ADMIN_TOKEN, CIB_FUZZ_USER_TOKEN, CIB_LOCAL_DIR,
CIB_FUZZ_SEEDED; CIB_LOCAL_RUNNER (default target/debug/local-runner) mints bob's token.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

URL = os.environ["CIB_FUZZ_URL"]
ADMIN = os.environ["CIB_FUZZ_ADMIN_TOKEN"]
USER = os.environ["CIB_FUZZ_USER_TOKEN"]
LOCAL_DIR = Path(os.environ["CIB_LOCAL_DIR"])
OUT = Path(os.environ["CIB_FUZZ_SEEDED"])
RUNNER = os.environ.get("CIB_LOCAL_RUNNER", "target/debug/local-runner")

REGION = "us-east-1"
SESSIONS_AWS_ACCOUNT = "210000000003"
SETTINGS_AWS_ACCOUNT = "210000000004"
DELETED_AWS_ACCOUNT = "210000000005"
ADMIN_EMAIL = "admin@example.com"
BOB = "bob@example.com"
TWELVE_HOURS = 43200
AGENT_VERSION = "3.3.40.0"
DOCUMENT = "SSM-SessionManagerRunShell"
ADMIN_SLACK_MEMBER = "U0FUZZADMIN"
USER_SLACK_MEMBER = "U0FUZZUSER"


class SetupFailed(Exception):
    pass


def email_of(token: str) -> str:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["email"]


def call(method: str, path: str, body: object = None, token: str = ADMIN, expect: tuple[int, ...] = (200, 201, 204)):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(URL + path, data=data, method=method, headers={"Authorization": "Bearer " + token})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    if status not in expect:
        raise SetupFailed(f"{method} {path}: {status} {text}")
    return json.loads(text) if text else None


def control(endpoint: str, path: str, body: dict) -> dict:
    """The local AWS's unsigned control endpoint (local/aws/README.md)."""
    req = urllib.request.Request(
        endpoint.rstrip("/") + path, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        raise SetupFailed(f"POST {path}: {e.code} {e.read().decode()}") from None


def aws(service: str, endpoint: str, keys: dict, token: str | None = None):
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=keys["access_key_id"],
        aws_secret_access_key=keys["secret_access_key"],
        aws_session_token=token,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
    )


def mint(email: str) -> str:
    out = subprocess.run(
        [RUNNER, "token", "--email", email, "--role", "user"], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SetupFailed(f"local-runner token --email {email}: {out.stderr.strip()}")
    return out.stdout.strip()


def register(aws_account: str, name: str) -> str:
    external_id = call("POST", "/accounts/external-ids")["external_id"]
    account = call(
        "POST",
        "/accounts",
        {
            "name": name,
            "default_region": REGION,
            "credentials": {
                "type": "assume_role",
                "role_arn": f"arn:aws:iam::{aws_account}:role/CloudIamBrokerAccess",
                "external_id": external_id,
            },
        },
    )
    return account["id"]


def provision(account: str, email: str, console: bool = True) -> str:
    user = call("POST", f"/accounts/{account}/users", {"email": email, "console_access": console, "credential": True})
    return user["user_name"]


def create_role(iam, name: str, trust: dict, actions: list[str]) -> str:
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), MaxSessionDuration=TWELVE_HOURS)
    iam.put_role_policy(
        RoleName=name,
        PolicyName="work",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}),
    )
    return role["Role"]["Arn"]


def start(token: str, body: dict, expect: int) -> dict:
    # An hour: the seeded sessions outlive the admin phase (the runner's expirer runs hourly),
    # and an extension may still move the end by up to 11 hours.
    return call("POST", "/sessions", {"duration_seconds": 3600, "reason": "fuzz seed", **body}, token=token, expect=(expect,))


def shell_target(endpoint: str, admin_keys: dict, account: str, shell_role: str) -> str:
    """An EC2 instance Session Manager manages (an instance profile, its SSM Agent registered
    through the local AWS's control endpoint, as local/src/demo.rs makes the demo's), a
    transcript bucket, and the account's shell settings reaching the instance: its id."""
    iam = aws("iam", endpoint, admin_keys)
    profile = "cib-fuzz-ssm-instance"
    iam.create_role(
        RoleName=profile,
        AssumeRolePolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        ),
    )
    iam.create_instance_profile(InstanceProfileName=profile)
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=profile)
    instance = aws("ec2", endpoint, admin_keys).run_instances(
        ImageId="ami-12345678",
        MinCount=1,
        MaxCount=1,
        IamInstanceProfile={"Name": profile},
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Environment", "Value": "fuzz"}]}],
    )["Instances"][0]["InstanceId"]
    control(
        endpoint,
        "/moto-api/cib/ssm/agents",
        {"AccountId": SESSIONS_AWS_ACCOUNT, "Region": REGION, "InstanceId": instance, "AgentVersion": AGENT_VERSION},
    )
    bucket = f"cib-fuzz-transcripts-{SESSIONS_AWS_ACCOUNT}"
    aws("s3", endpoint, admin_keys).create_bucket(Bucket=bucket)
    shell = call(
        "PUT",
        f"/accounts/{account}/shell",
        {
            "enabled": True,
            "role_arn": shell_role,
            "targets": {"instance_ids": [instance]},
            "max_duration_seconds": TWELVE_HOURS,
            "idle_timeout_minutes": 20,
            "recording": {"s3_bucket": bucket, "s3_key_prefix": "shell/"},
        },
    )
    if not shell["preferences"].get("in_sync"):
        raise SetupFailed(f"the shell settings' preferences document is not in sync: {shell['preferences']}")
    return instance


def recorded_shell_session(endpoint: str, account: str, instance: str) -> tuple[str, str]:
    """A shell session of the user's whose Session Manager session was opened with its
    credentials, typed in and ended: its id, and the Session Manager session whose transcript the
    end recorded (and the owner can read)."""
    started = start(USER, {"account_id": account, "type": "shell", "target": instance}, 201)
    session = started["session"]["id"]
    creds = started["credentials"]
    ssm = aws(
        "ssm",
        endpoint,
        {"access_key_id": creds["access_key_id"], "secret_access_key": creds["secret_access_key"]},
        token=creds["session_token"],
    )
    ssm_session = ssm.start_session(Target=instance, DocumentName=DOCUMENT)["SessionId"]
    control(
        endpoint,
        "/moto-api/cib/ssm/session-input",
        {"AccountId": SESSIONS_AWS_ACCOUNT, "Region": REGION, "SessionId": ssm_session, "Text": "$ whoami\nssm-user\n"},
    )
    call("DELETE", f"/sessions/{session}", {"reason": "fuzz seed: transcript"}, token=USER)
    recorded = [s["id"] for s in call("GET", f"/sessions/{session}", token=USER).get("ssm_sessions", [])]
    if ssm_session not in recorded:
        raise SetupFailed(f"the shell session's end recorded {recorded}, not {ssm_session}")
    call("GET", f"/sessions/{session}/transcripts/{ssm_session}", token=USER)
    return session, ssm_session


def main() -> None:
    secrets = json.loads((LOCAL_DIR / "local-secrets.json").read_text())
    endpoint = secrets["aws_endpoint"]
    keys = {a["aws_account_id"]: a for a in secrets["accounts"]}
    for needed in (SESSIONS_AWS_ACCOUNT, SETTINGS_AWS_ACCOUNT):
        if needed not in keys:
            raise SetupFailed(f"the local runner seeded no AWS account {needed} (local/src/main.rs seeds 5)")
    user = email_of(USER)
    print("fuzz_setup: the sessions account", flush=True)
    account = register(SESSIONS_AWS_ACCOUNT, "fuzz sessions")
    auto_role = f"arn:aws:iam::{SESSIONS_AWS_ACCOUNT}:role/CibFuzzJit"
    approval_role = f"arn:aws:iam::{SESSIONS_AWS_ACCOUNT}:role/CibFuzzApproval"
    jit = {
        "active": True,
        "jit_enabled": True,
        "max_duration_seconds": TWELVE_HOURS,
        "allowed_role_arns": [auto_role, approval_role],
    }
    # Allowed first, so the API says what the roles must trust; saved again once they exist, so
    # that their maximum (12 h) is read from IAM (web/tests/system.ts `jitUser` does the same).
    call("PUT", f"/accounts/{account}/jit", jit)
    trust = call("GET", f"/accounts/{account}/jit")["role_trust_policy"]
    brokered_only = {"Version": "2012-10-17", "Statement": [s for s in trust["Statement"] if s.get("Sid") == "CloudIamBrokerJit"]}
    admin_keys = keys[SESSIONS_AWS_ACCOUNT]
    iam = aws("iam", endpoint, admin_keys)
    create_role(iam, "CibFuzzJit", trust, ["iam:ListRoles", "iam:GetRole"])
    create_role(iam, "CibFuzzApproval", trust, ["iam:ListRoles", "iam:GetRole"])
    # The shell role trusts brokered sessions only (not console switch-role: docs/shell-sessions.md).
    shell_role = create_role(
        iam,
        "CibFuzzShell",
        brokered_only,
        ["ssm:StartSession", "ssm:TerminateSession", "ssm:ResumeSession", "ssm:DescribeSessions"],
    )
    call("PUT", f"/accounts/{account}/jit", jit)

    print("fuzz_setup: the shell target", flush=True)
    try:
        instance = shell_target(endpoint, admin_keys, account, shell_role)
    except Exception as e:  # JIT and the rest are still worth fuzzing; the counts show the gap
        print(f"fuzz_setup: WARNING: no shell target ({type(e).__name__}: {e})", flush=True)
        instance = None

    print("fuzz_setup: users and groups", flush=True)
    user_name = provision(account, user)
    provision(account, BOB)
    approvers = call("POST", "/groups", {"name": "fuzz approvers", "accounts": [], "permissions": {}})["id"]
    automatic = call(
        "POST",
        "/groups",
        {
            "name": "fuzz sessions",
            "accounts": [account],
            "permissions": {"start_sessions": True, "start_jit_sessions": True, "start_shell_sessions": True},
            "policy": {"jit_role_arns": [auto_role], "break_glass": {"max_duration_seconds": TWELVE_HOURS}},
        },
    )["id"]
    approval = call(
        "POST",
        "/groups",
        {
            "name": "fuzz approvals",
            "accounts": [account],
            "permissions": {"start_jit_sessions": True},
            "policy": {"jit_role_arns": [approval_role], "approval": {"approvals_required": 1, "approver_group_ids": [approvers]}},
        },
    )["id"]
    call("PUT", f"/groups/{approvers}/members/{urllib.parse.quote(ADMIN_EMAIL)}")
    for member in (user, BOB):
        for group in (automatic, approval):
            call("PUT", f"/groups/{group}/members/{urllib.parse.quote(member)}")

    print("fuzz_setup: sessions and requests", flush=True)
    jit_start = {"account_id": account, "type": "jit", "role_arn": auto_role}
    request = {"account_id": account, "type": "jit", "role_arn": approval_role}
    to_end = start(USER, jit_start, 201)["session"]["id"]
    to_extend = start(USER, jit_start, 201)["session"]["id"]
    break_glass = [start(USER, {**jit_start, "break_glass": True}, 201)["session"]["id"] for _ in range(2)]
    pending = [start(USER, request, 202)["session"]["id"] for _ in range(6)]
    bob = mint(BOB)
    bobs = start(bob, jit_start, 201)["session"]["id"]
    bobs_request = start(bob, request, 202)["session"]["id"]

    print("fuzz_setup: a shell session and its transcript", flush=True)
    shell_session, transcripts = None, []
    try:
        if instance is None:
            raise SetupFailed("no shell target")
        shell_session, ssm_session = recorded_shell_session(endpoint, account, instance)
        transcripts = [{"id": shell_session, "ssm_session_id": ssm_session}]
    except Exception as e:  # the rest is still worth fuzzing; fuzz_counts.py names getTranscript
        print(f"fuzz_setup: WARNING: no transcript to read ({type(e).__name__}: {e})", flush=True)

    print("fuzz_setup: the settings account, Slack links", flush=True)
    settings = register(SETTINGS_AWS_ACCOUNT, "fuzz settings")
    to_rotate = provision(settings, "fuzz-rotate@example.com", console=False)
    to_deprovision = provision(settings, "fuzz-deprovision@example.com", console=False)
    call("PUT", f"/chatops/slack/users/{ADMIN_SLACK_MEMBER}", {"email": ADMIN_EMAIL})
    call("PUT", f"/chatops/slack/users/{USER_SLACK_MEMBER}", {"email": user})

    print("fuzz_setup: the organization and its Identity Center", flush=True)
    organization, members = None, []
    try:
        # The local runner issued its ExternalId and applied its trust (organization.json).
        registered = call("POST", "/organizations", json.loads((LOCAL_DIR / "organization.json").read_text()))
        organization = registered["id"]
        members = [a["aws_account_id"] for a in registered["accounts"] if a["aws_account_id"] != registered["management_account_id"]]
        call("PUT", f"/organizations/{organization}/identity-center", {"region": "us-east-1"})
    except Exception as e:  # the rest is still worth fuzzing; fuzz_counts.py names what it missed
        print(f"fuzz_setup: WARNING: no organization ({type(e).__name__}: {e})", flush=True)

    readable = [to_end, to_extend, break_glass[0], pending[0], bobs] + ([shell_session] if shell_session else [])
    ids = lambda values: [{"id": v} for v in values]  # noqa: E731
    # operationId -> caller -> path parameters to steer half of the valid cases to. Session
    # operations are steered for both callers (the user's own, and bob's: a documented 403);
    # admin-only ones for the admin (the user gets 403 wherever they point).
    sessions = {
        "getSession": ids(readable),
        "getSessionLog": ids(readable),
        "getSessionActivity": ids(readable),
        "endSession": ids([to_end, bobs]),
        "extendSession": ids([to_extend, bobs]),
        "approveRequest": ids(pending[0:2] + [bobs_request]),
        "denyRequest": ids(pending[2:4]),
        "cancelRequest": ids(pending[4:6]),
        "reviewSession": ids(break_glass),
        "getTranscript": transcripts,
        # Its shell settings reach the seeded instance; the user's group grants shell sessions.
        "listShellTargets": ids([account]),
    }
    admin_only = {
        "getAccount": ids([account, settings]),
        "getJitSettings": ids([account, settings]),
        "getShellSettings": ids([account, settings]),
        "verifyEvidence": ids([account, settings]),
        "listUsers": ids([account, settings]),
        "putJitSettings": ids([settings]),
        "putShellSettings": ids([settings]),
        "getUser": [{"id": settings, "name": to_rotate}, {"id": account, "name": user_name}],
        "rotateCredential": [{"id": settings, "name": to_rotate}],
        "deprovisionUser": [{"id": settings, "name": to_deprovision}],
        "releaseIdentity": [{"email": BOB}],
    }
    if organization:
        admin_only.update(
            {
                "getOrganization": ids([organization]),
                "syncOrganization": ids([organization]),
                "setOrganizationIdentityCenter": ids([organization]),
                # Each member is enabled once (201), then 409 `already-registered`.
                "enableOrganizationAccount": [{"id": organization, "aws_account_id": m} for m in members],
            }
        )
    paths = {op: {"admin": values, "user": values} for op, values in sessions.items()}
    paths.update({op: {"admin": values} for op, values in admin_only.items()})
    paths["confirmSlackLink"] = {
        "admin": [{"slack_user_id": ADMIN_SLACK_MEMBER}],
        "user": [{"slack_user_id": USER_SLACK_MEMBER}],
    }
    seeded = {
        "sessions_account": {
            "id": account,
            "aws_account_id": SESSIONS_AWS_ACCOUNT,
            "automatic_role_arn": auto_role,
            "approval_role_arn": approval_role,
            "shell_target": instance,
        },
        "settings_account": {"id": settings, "aws_account_id": SETTINGS_AWS_ACCOUNT},
        "paths": paths,
    }
    OUT.write_text(json.dumps(seeded, indent=2))
    print(f"fuzz_setup: seeded (accounts {account}, {settings}; {len(pending) + 1} pending requests)", flush=True)


def before_admin() -> None:
    """Between the phases: what the admin phase decides and deletes, made after the user phase,
    whose stateful links end whatever the user's listings show (pending requests included)."""
    seeded = json.loads(OUT.read_text())
    account = seeded["sessions_account"]["id"]
    request = {"account_id": account, "type": "jit", "role_arn": seeded["sessions_account"]["approval_role_arn"]}
    jit_start = {"account_id": account, "type": "jit", "role_arn": seeded["sessions_account"]["automatic_role_arn"]}
    def made(what: str, make) -> list[str]:
        # What the user phase left (a live console session refuses starts, say) may stand in the
        # way: the admin phase still runs, and fuzz_counts.py names what it then did not reach.
        try:
            return [make()]
        except Exception as e:  # noqa: BLE001
            print(f"fuzz_setup: WARNING: no {what} ({type(e).__name__}: {e})", flush=True)
            return []

    # Bob's: the user phase may leave the user a live console session, which refuses starts.
    print("fuzz_setup: requests and break-glass sessions for the admin to decide", flush=True)
    bobs = mint(BOB)
    requested = lambda: start(bobs, request, 202)["session"]["id"]  # noqa: E731
    pending = [i for _ in range(7) for i in made("pending request", requested)]
    glass = lambda: start(bobs, {**jit_start, "break_glass": True}, 201)["session"]["id"]  # noqa: E731
    break_glass = [i for _ in range(2) for i in made("break-glass session", glass)]
    print("fuzz_setup: an account to delete", flush=True)
    doomed = made("account to delete", lambda: register(DELETED_AWS_ACCOUNT, "fuzz deleted"))
    ids = lambda values: [{"id": v} for v in values]  # noqa: E731
    seeded["paths"].update(
        {
            "approveRequest": {"admin": ids(pending[0:3])},
            # Four: the stateful phase, following links from listings, may approve some first.
            "denyRequest": {"admin": ids(pending[3:7])},
            "reviewSession": {"admin": ids(break_glass)},
            "deleteAccount": {"admin": ids(doomed)},
        }
    )
    # What fuzz_hooks.py's `before_call` asks for when every seeded request to deny was decided
    # before a valid denial reached it: another request of bob's, made on the spot.
    seeded["request_to_deny"] = {"token": bobs, "body": {"duration_seconds": 3600, "reason": "fuzz seed", **request}}
    OUT.write_text(json.dumps(seeded, indent=2))


if __name__ == "__main__":
    began = time.monotonic()
    try:
        before_admin() if sys.argv[1:] == ["--before-admin"] else main()
    except SetupFailed as e:
        sys.exit(f"fuzz_setup: {e}")
    except Exception as e:  # boto3's refusals, a missing file: say which, with what was asked
        sys.exit(f"fuzz_setup: {type(e).__name__}: {e}")
    print(f"fuzz_setup: {time.monotonic() - began:.1f} s", flush=True)
