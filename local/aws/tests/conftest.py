"""Puts local/aws on sys.path, so the tests import `cib_local_aws` from any working directory, and
starts the real server for the end-to-end tests.

The `aws` fixture (one server per test module) starts it through launch.py, as local_aws.rs does:
the first INITIAL_NO_AUTH_ACTION_COUNT requests are free and seed admin users (in the default
account and, with moto's x-moto-account-id header, in a second one); everything after is signed
and authorized by the patched moto. The helpers below drive it with boto3 and real keys.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass

import boto3
import pytest
from botocore.config import Config

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LAUNCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "launch.py")
ACCOUNT = "123456789012"
OTHER = "210000000001"
REGION = "us-east-1"
ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


@dataclass
class Keys:
    id: str
    secret: str
    token: str | None = None


@dataclass
class Aws:
    endpoint: str
    admin: Keys  # allow-all user in ACCOUNT
    other_admin: Keys  # allow-all user in OTHER

    def client(self, service: str, keys: Keys, **config):
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id=keys.id,
            aws_secret_access_key=keys.secret,
            aws_session_token=keys.token,
            config=Config(retries={"max_attempts": 1}, **config),
        )


def _seed_admin(endpoint: str, account: str | None, name: str) -> Keys:
    """Three free requests: CreateUser, PutUserPolicy (allow-all), CreateAccessKey."""
    iam = boto3.client(
        "iam",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="AKIABOOTSTRAP0000000",
        aws_secret_access_key="bootstrap",
    )
    if account:
        iam.meta.events.register("before-sign.iam.*", lambda request, **_: request.headers.__setitem__("x-moto-account-id", account))
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="admin", PolicyDocument=ALLOW_ALL)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Keys(key["AccessKeyId"], key["SecretAccessKey"])


@contextlib.contextmanager
def local_aws(**env_overrides: str):
    """A fresh server (launch.py, as local_aws.rs starts it) with admins seeded, its environment
    plus `env_overrides`; stopped on exit."""
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="6", MOTO_IAM_LOAD_MANAGED_POLICIES="false", **env_overrides)
    log = tempfile.TemporaryFile()
    # cwd "/": launch.py must find its package by itself. Port 0: it binds one and prints it.
    proc = subprocess.Popen([sys.executable, LAUNCH, "0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env, cwd="/")
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else b""
        if not line.strip().isdigit():
            proc.poll()
            log.seek(0)
            pytest.fail(f"moto did not start: {log.read().decode(errors='replace')[-3000:]}")
        port = int(line)
        # Nothing else is read from stdout: a thread drains it so the server never blocks on it.
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        endpoint = f"http://127.0.0.1:{port}"
        admin = _seed_admin(endpoint, None, "admin")
        other = _seed_admin(endpoint, OTHER, "admin")
        yield Aws(endpoint, admin, other)
    finally:
        proc.stdin.close()  # the watchdog exits the server
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise


@pytest.fixture(scope="module")
def aws(request):
    """One server per test module; a module may set LOCAL_AWS_ENV (a dict) for its environment."""
    with local_aws(**getattr(request.module, "LOCAL_AWS_ENV", {})) as server:
        yield server


def code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def trust(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def user_with_key(aws: Aws, name: str, *policies: str, admin: Keys | None = None) -> tuple[str, Keys]:
    iam = aws.client("iam", admin or aws.admin)
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    for i, doc in enumerate(policies):
        iam.put_user_policy(UserName=name, PolicyName=f"p{i}", PolicyDocument=doc)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return arn, Keys(key["AccessKeyId"], key["SecretAccessKey"])


def role(aws: Aws, name: str, trust_policy: str, *inline: str, admin: Keys | None = None) -> str:
    iam = aws.client("iam", admin or aws.admin)
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy)["Role"]["Arn"]
    for i, doc in enumerate(inline):
        iam.put_role_policy(RoleName=name, PolicyName=f"p{i}", PolicyDocument=doc)
    return arn


def assume(aws: Aws, keys: Keys, role_arn: str, name: str, **kwargs) -> Keys:
    out = aws.client("sts", keys).assume_role(RoleArn=role_arn, RoleSessionName=name, **kwargs)
    c = out["Credentials"]
    return Keys(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


def expire_session(aws: Aws, access_key_id: str) -> tuple[int, dict]:
    """POST /moto-api/cib/sts/expire: the role session with that key expires now."""
    body = json.dumps({"AccessKeyId": access_key_id}).encode()
    request = urllib.request.Request(f"{aws.endpoint}/moto-api/cib/sts/expire", data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


LOCAL_AWS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pytest_collection_modifyitems(session, config, items):
    """Keeps how many tests a run of the whole suite collected, for test_reliability_counts.py
    (a run of some files or some tests collects fewer, and that test then skips)."""
    args = [os.path.abspath(a.split("::")[0]) for a in config.args]
    config.cib_whole_suite = bool(args) and all(a == LOCAL_AWS_DIR for a in args) and not config.option.keyword
    config.cib_collected = len(items)
