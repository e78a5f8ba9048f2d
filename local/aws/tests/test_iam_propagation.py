"""IAM's propagation delay (eventual consistency), end to end with boto3 and real keys.

AWS, IAM User Guide, "Changes that I make are not always immediately visible"
(troubleshoot_general.html#troubleshoot_general_eventual-consistency): "Any change that you make
in IAM (or other AWS services) takes time to become visible from all possible endpoints [...]
Such changes include creating or updating users, groups, roles, or policies"; intro.html,
"Eventually Consistent": "the change must be replicated across IAM, which can take some time".

Here the delay is DELAY_MS, set through POST /moto-api/cib/iam/propagation (the server starts
with it off): each case checks that right after a change authorization and IAM's reads still see
the state before it, and after the delay the state after it. With the delay off (0), every
change is seen at once, as moto always did.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError
from conftest import ALLOW_ALL, LAUNCH, Aws, Keys, assume, code, local_aws, trust, unique, user_with_key

from cib_local_aws.iam_propagation import _LIVE, Journal, parse_milliseconds

DELAY_MS = 1500
LIST_ROLES = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}]})
LIST_USERS = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}]})


def propagation(aws: Aws, body=None, method: str = "POST") -> tuple[int, dict]:
    """The control endpoint; `body` a dict (sent as JSON) or raw bytes."""
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(
        f"{aws.endpoint}/moto-api/cib/iam/propagation", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def delay(aws: Aws, milliseconds: int = DELAY_MS) -> None:
    assert propagation(aws, {"Milliseconds": milliseconds}) == (200, {"Milliseconds": milliseconds})


def settle(since: float | None = None) -> None:
    """Wait until a change made at `since` (time.monotonic(); default: now) is visible."""
    start = time.monotonic() if since is None else since
    time.sleep(max(0.0, start + DELAY_MS / 1000 + 0.5 - time.monotonic()))


@pytest.fixture(autouse=True)
def delay_off_afterwards(aws):
    yield
    propagation(aws, {"Milliseconds": 0})


def trusting(*principal_arns: str) -> str:
    return trust({"Effect": "Allow", "Principal": {"AWS": list(principal_arns)}, "Action": "sts:AssumeRole"})


def denied(call) -> str:
    with pytest.raises(ClientError) as e:
        call()
    return code(e)


def key_ids(iam, user: str) -> dict[str, str]:
    return {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}


# --- The control endpoint ------------------------------------------------------------------------


def test_the_control_endpoint_sets_and_reports_the_delay(aws):
    assert propagation(aws, method="GET") == (200, {"Milliseconds": 0})  # off by default
    assert propagation(aws, {"Milliseconds": 1500}) == (200, {"Milliseconds": 1500})
    assert propagation(aws, method="GET") == (200, {"Milliseconds": 1500})
    assert propagation(aws, {"Milliseconds": 0}) == (200, {"Milliseconds": 0})


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1500]", {}, {"Milliseconds": -1}, {"Milliseconds": 1.5}, {"Milliseconds": "1500"},
     {"Milliseconds": True}, {"Milliseconds": None}, {"Milliseconds": 86_400_001}],
)
def test_the_control_endpoint_refuses_a_malformed_body(aws, body):
    status, answer = propagation(aws, body)
    assert status == 400 and answer["message"]
    assert propagation(aws, method="GET") == (200, {"Milliseconds": 0})  # unchanged


def test_the_delay_must_be_a_whole_number_of_milliseconds():
    assert parse_milliseconds("0") == 0 and parse_milliseconds(" 1500 ") == 1500 and parse_milliseconds(2000) == 2000
    for bad in ("-1", "1.5", "abc", "", "1e3", -1, 1.5, True, 86_400_001):
        with pytest.raises(ValueError):
            parse_milliseconds(bad)


# --- Access keys ---------------------------------------------------------------------------------


def test_a_new_access_key_is_unknown_until_it_is_visible(aws):
    iam = aws.client("iam", aws.admin)
    name = unique("newkey")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    delay(aws)
    made = iam.create_access_key(UserName=name)["AccessKey"]
    since = time.monotonic()
    keys = Keys(made["AccessKeyId"], made["SecretAccessKey"])
    # As principals refuses a key no account knows.
    assert denied(aws.client("sts", keys).get_caller_identity) == "InvalidClientTokenId"
    assert key_ids(iam, name) == {}
    settle(since)
    assert aws.client("sts", keys).get_caller_identity()["Arn"] == arn
    assert key_ids(iam, name) == {keys.id: "Active"}


def test_a_deleted_access_key_keeps_working_until_the_deletion_is_visible(aws):
    iam = aws.client("iam", aws.admin)
    name = unique("oldkey")
    arn, keys = user_with_key(aws, name, ALLOW_ALL)
    delay(aws)
    iam.delete_access_key(UserName=name, AccessKeyId=keys.id)
    since = time.monotonic()
    assert aws.client("sts", keys).get_caller_identity()["Arn"] == arn  # still its user
    aws.client("iam", keys).list_roles()  # still authorized as its user
    assert key_ids(iam, name) == {keys.id: "Active"}
    settle(since)
    assert denied(aws.client("sts", keys).get_caller_identity) == "InvalidClientTokenId"
    assert key_ids(iam, name) == {}


def test_a_deactivated_access_key_keeps_working_until_the_change_is_visible(aws):
    iam = aws.client("iam", aws.admin)
    name = unique("inactive")
    _, keys = user_with_key(aws, name, ALLOW_ALL)
    delay(aws)
    iam.update_access_key(UserName=name, AccessKeyId=keys.id, Status="Inactive")
    since = time.monotonic()
    aws.client("iam", keys).list_roles()
    assert key_ids(iam, name) == {keys.id: "Active"}
    settle(since)
    assert denied(aws.client("iam", keys).list_roles) == "InvalidClientTokenId"
    assert key_ids(iam, name) == {keys.id: "Inactive"}


# --- Inline policies -----------------------------------------------------------------------------


def test_a_users_inline_policy_put_then_deleted(aws):
    iam = aws.client("iam", aws.admin)
    name = unique("inline")
    _, keys = user_with_key(aws, name)
    caller = aws.client("iam", keys)
    delay(aws)

    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=LIST_ROLES)
    since = time.monotonic()
    assert denied(caller.list_roles) == "AccessDenied"
    assert denied(lambda: iam.get_user_policy(UserName=name, PolicyName="p")) == "NoSuchEntity"
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == []
    settle(since)
    caller.list_roles()
    assert iam.get_user_policy(UserName=name, PolicyName="p")["PolicyDocument"] == json.loads(LIST_ROLES)
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == ["p"]

    iam.delete_user_policy(UserName=name, PolicyName="p")
    since = time.monotonic()
    caller.list_roles()  # the deleted policy still allows
    assert iam.get_user_policy(UserName=name, PolicyName="p")["PolicyDocument"] == json.loads(LIST_ROLES)
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == ["p"]
    settle(since)
    assert denied(caller.list_roles) == "AccessDenied"
    assert denied(lambda: iam.get_user_policy(UserName=name, PolicyName="p")) == "NoSuchEntity"


def test_successive_changes_become_visible_each_at_its_time_in_order(aws):
    iam = aws.client("iam", aws.admin)
    name = unique("order")
    _, keys = user_with_key(aws, name)
    caller = aws.client("iam", keys)
    delay(aws)

    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=LIST_ROLES)
    first = time.monotonic()
    time.sleep(DELAY_MS / 2000)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=LIST_USERS)
    second = time.monotonic()
    assert denied(lambda: iam.get_user_policy(UserName=name, PolicyName="p")) == "NoSuchEntity"

    time.sleep(max(0.0, first + DELAY_MS / 1000 + 0.25 - time.monotonic()))  # the first only
    assert time.monotonic() < second + DELAY_MS / 1000, "too slow to see the first change alone"
    assert iam.get_user_policy(UserName=name, PolicyName="p")["PolicyDocument"] == json.loads(LIST_ROLES)
    caller.list_roles()
    assert denied(caller.list_users) == "AccessDenied"

    settle(second)
    assert iam.get_user_policy(UserName=name, PolicyName="p")["PolicyDocument"] == json.loads(LIST_USERS)
    caller.list_users()
    assert denied(caller.list_roles) == "AccessDenied"


def test_a_roles_inline_policy(aws):
    iam = aws.client("iam", aws.admin)
    user_arn, keys = user_with_key(aws, unique("u"), ALLOW_ALL)
    name = unique("Inline")
    role_arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trusting(user_arn))["Role"]["Arn"]
    session = aws.client("iam", assume(aws, keys, role_arn, "s1"))
    delay(aws)

    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=LIST_ROLES)
    since = time.monotonic()
    assert denied(session.list_roles) == "AccessDenied"
    assert denied(lambda: iam.get_role_policy(RoleName=name, PolicyName="p")) == "NoSuchEntity"
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == []
    settle(since)
    session.list_roles()
    assert iam.get_role_policy(RoleName=name, PolicyName="p")["PolicyDocument"] == json.loads(LIST_ROLES)
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["p"]

    iam.delete_role_policy(RoleName=name, PolicyName="p")
    since = time.monotonic()
    session.list_roles()
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["p"]
    settle(since)
    assert denied(session.list_roles) == "AccessDenied"
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == []


def test_a_groups_inline_policy(aws):
    iam = aws.client("iam", aws.admin)
    user = unique("member")
    _, keys = user_with_key(aws, user)
    group = unique("g")
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=user)
    caller = aws.client("iam", keys)
    delay(aws)

    iam.put_group_policy(GroupName=group, PolicyName="p", PolicyDocument=LIST_ROLES)
    since = time.monotonic()
    assert denied(caller.list_roles) == "AccessDenied"
    assert denied(lambda: iam.get_group_policy(GroupName=group, PolicyName="p")) == "NoSuchEntity"
    assert iam.list_group_policies(GroupName=group)["PolicyNames"] == []
    settle(since)
    caller.list_roles()
    assert iam.get_group_policy(GroupName=group, PolicyName="p")["PolicyDocument"] == json.loads(LIST_ROLES)
    assert iam.list_group_policies(GroupName=group)["PolicyNames"] == ["p"]


# --- Managed policies ----------------------------------------------------------------------------


def test_a_managed_policy_attached_then_detached_from_a_user(aws):
    iam = aws.client("iam", aws.admin)
    name = unique("attach")
    _, keys = user_with_key(aws, name)
    caller = aws.client("iam", keys)
    policy_arn = iam.create_policy(PolicyName=unique("ListRoles"), PolicyDocument=LIST_ROLES)["Policy"]["Arn"]
    delay(aws)

    def attached():
        return [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]]

    iam.attach_user_policy(UserName=name, PolicyArn=policy_arn)
    since = time.monotonic()
    assert denied(caller.list_roles) == "AccessDenied"
    assert attached() == []
    settle(since)
    caller.list_roles()
    assert attached() == [policy_arn]

    iam.detach_user_policy(UserName=name, PolicyArn=policy_arn)
    since = time.monotonic()
    caller.list_roles()
    assert attached() == [policy_arn]
    settle(since)
    assert denied(caller.list_roles) == "AccessDenied"
    assert attached() == []


def test_a_managed_policy_attached_to_a_role_and_to_a_group(aws):
    iam = aws.client("iam", aws.admin)
    user_arn, admin_keys = user_with_key(aws, unique("u"), ALLOW_ALL)
    role_name = unique("Attach")
    role_arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=trusting(user_arn))["Role"]["Arn"]
    session = aws.client("iam", assume(aws, admin_keys, role_arn, "s1"))
    member = unique("member")
    _, member_keys = user_with_key(aws, member)
    member_client = aws.client("iam", member_keys)
    group = unique("g")
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=member)
    policy_arn = iam.create_policy(PolicyName=unique("ListRoles"), PolicyDocument=LIST_ROLES)["Policy"]["Arn"]
    delay(aws)

    iam.attach_role_policy(RoleName=role_name, PolicyArn=policy_arn)
    iam.attach_group_policy(GroupName=group, PolicyArn=policy_arn)
    since = time.monotonic()
    assert denied(session.list_roles) == "AccessDenied"
    assert denied(member_client.list_roles) == "AccessDenied"
    assert iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"] == []
    assert iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"] == []
    settle(since)
    session.list_roles()
    member_client.list_roles()
    assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]] == [policy_arn]
    assert [p["PolicyArn"] for p in iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"]] == [policy_arn]


def test_a_new_default_version(aws):
    iam = aws.client("iam", aws.admin)
    name = unique("versions")
    _, keys = user_with_key(aws, name)
    caller = aws.client("iam", keys)
    policy_arn = iam.create_policy(PolicyName=unique("Versions"), PolicyDocument=LIST_ROLES)["Policy"]["Arn"]
    iam.attach_user_policy(UserName=name, PolicyArn=policy_arn)
    delay(aws)

    def defaults() -> tuple[str, dict[str, bool], bool]:
        versions = iam.list_policy_versions(PolicyArn=policy_arn)["Versions"]
        v2 = iam.get_policy_version(PolicyArn=policy_arn, VersionId="v2")["PolicyVersion"]["IsDefaultVersion"]
        return iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"], {v["VersionId"]: v["IsDefaultVersion"] for v in versions}, v2

    assert iam.create_policy_version(PolicyArn=policy_arn, PolicyDocument=LIST_USERS, SetAsDefault=True)["PolicyVersion"]["VersionId"] == "v2"
    since = time.monotonic()
    caller.list_roles()  # v1 still decides
    assert denied(caller.list_users) == "AccessDenied"
    assert defaults() == ("v1", {"v1": True, "v2": False}, False)
    settle(since)
    caller.list_users()
    assert denied(caller.list_roles) == "AccessDenied"
    assert defaults() == ("v2", {"v1": False, "v2": True}, True)

    iam.set_default_policy_version(PolicyArn=policy_arn, VersionId="v1")
    since = time.monotonic()
    caller.list_users()
    assert denied(caller.list_roles) == "AccessDenied"
    assert defaults() == ("v2", {"v1": False, "v2": True}, True)
    settle(since)
    caller.list_roles()
    assert denied(caller.list_users) == "AccessDenied"
    assert defaults() == ("v1", {"v1": True, "v2": False}, False)


# --- Trust policies ------------------------------------------------------------------------------


def test_a_new_role_cannot_be_assumed_until_it_is_visible(aws):
    iam = aws.client("iam", aws.admin)
    user_arn, keys = user_with_key(aws, unique("u"), ALLOW_ALL)
    delay(aws)
    role_arn = iam.create_role(RoleName=unique("New"), AssumeRolePolicyDocument=trusting(user_arn))["Role"]["Arn"]
    since = time.monotonic()
    assert denied(lambda: assume(aws, keys, role_arn, "s1")) == "AccessDenied"
    settle(since)
    assume(aws, keys, role_arn, "s1")


def test_an_updated_trust_policy(aws):
    iam = aws.client("iam", aws.admin)
    a_arn, a_keys = user_with_key(aws, unique("a"), ALLOW_ALL)
    b_arn, b_keys = user_with_key(aws, unique("b"), ALLOW_ALL)
    name = unique("Trust")
    role_arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trusting(a_arn))["Role"]["Arn"]
    delay(aws)

    def document() -> dict:
        return iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]

    iam.update_assume_role_policy(RoleName=name, PolicyDocument=trusting(b_arn))
    since = time.monotonic()
    assume(aws, a_keys, role_arn, "s1")
    assert denied(lambda: assume(aws, b_keys, role_arn, "s1")) == "AccessDenied"
    assert document() == json.loads(trusting(a_arn))
    listed = {r["RoleName"]: r["AssumeRolePolicyDocument"] for r in iam.list_roles()["Roles"]}
    assert listed[name] == json.loads(trusting(a_arn))
    settle(since)
    assume(aws, b_keys, role_arn, "s1")
    assert denied(lambda: assume(aws, a_keys, role_arn, "s1")) == "AccessDenied"
    assert document() == json.loads(trusting(b_arn))


# --- Off ---------------------------------------------------------------------------------------


def test_with_no_delay_every_change_is_visible_at_once(aws):
    iam = aws.client("iam", aws.admin)
    assert propagation(aws, method="GET") == (200, {"Milliseconds": 0})
    name = unique("now")
    user_arn, keys = user_with_key(aws, name)
    caller = aws.client("iam", keys)
    assert aws.client("sts", keys).get_caller_identity()["Arn"] == user_arn  # its key, at once
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=LIST_ROLES)
    caller.list_roles()
    iam.delete_user_policy(UserName=name, PolicyName="p")
    assert denied(caller.list_roles) == "AccessDenied"
    policy_arn = iam.create_policy(PolicyName=unique("Now"), PolicyDocument=LIST_ROLES)["Policy"]["Arn"]
    iam.attach_user_policy(UserName=name, PolicyArn=policy_arn)
    caller.list_roles()
    iam.create_policy_version(PolicyArn=policy_arn, PolicyDocument=LIST_USERS, SetAsDefault=True)
    caller.list_users()
    iam.detach_user_policy(UserName=name, PolicyArn=policy_arn)
    assert denied(caller.list_users) == "AccessDenied"
    iam.put_user_policy(UserName=name, PolicyName="assume", PolicyDocument=ALLOW_ALL)
    role = unique("Now")
    role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=trusting(user_arn))["Role"]["Arn"]
    assume(aws, keys, role_arn, "s1")
    other_arn, _ = user_with_key(aws, unique("other"))
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=trusting(other_arn))
    assert denied(lambda: assume(aws, keys, role_arn, "s1")) == "AccessDenied"
    iam.delete_access_key(UserName=name, AccessKeyId=keys.id)
    assert denied(caller.list_roles) == "InvalidClientTokenId"


def test_turning_the_delay_off_makes_pending_changes_visible_at_once(aws):
    iam = aws.client("iam", aws.admin)
    name = unique("flush")
    _, keys = user_with_key(aws, name)
    caller = aws.client("iam", keys)
    delay(aws)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=LIST_ROLES)
    assert denied(caller.list_roles) == "AccessDenied"
    delay(aws, 0)
    caller.list_roles()
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == ["p"]


# --- At start ------------------------------------------------------------------------------------


def test_the_delay_set_at_start_spares_the_seeding_requests():
    with local_aws(CIB_LOCAL_IAM_PROPAGATION_MS=str(DELAY_MS)) as aws:
        assert propagation(aws, method="GET") == (200, {"Milliseconds": DELAY_MS})
        iam = aws.client("iam", aws.admin)  # seeded by free requests: usable at once
        name = unique("late")
        iam.create_user(UserName=name)
        made = iam.create_access_key(UserName=name)["AccessKey"]
        since = time.monotonic()
        keys = Keys(made["AccessKeyId"], made["SecretAccessKey"])
        assert denied(aws.client("sts", keys).get_caller_identity) == "InvalidClientTokenId"
        settle(since)
        aws.client("sts", keys).get_caller_identity()


@pytest.mark.parametrize("value", ["-1", "1.5", "soon"])
def test_a_malformed_delay_at_start_stops_the_server(value):
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="0", CIB_LOCAL_IAM_PROPAGATION_MS=value)
    # stdin stays open (closing it stops the server: launch.py's watchdog), so it must stop by itself.
    proc = subprocess.Popen(
        [sys.executable, LAUNCH, "0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd="/"
    )
    try:
        returncode = proc.wait(timeout=60)  # the message is short: no pipe fills up meanwhile
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the server did not stop")
    finally:
        proc.stdin.close()
    stderr = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert returncode != 0
    assert b"local AWS: CIB_LOCAL_IAM_PROPAGATION_MS must be a whole number of milliseconds" in stderr


# --- The journal itself, on a fake clock ---------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_journal_shows_the_latest_change_whose_time_has_come():
    clock = Clock()
    journal = Journal(clock)
    key = ("inline", "123456789012", "user", "AIDA1", "p")
    journal.record(key, None, "A", 0)
    assert journal.seen(key) is _LIVE  # no delay, nothing pending: not even remembered
    journal.record(key, None, "A", 1500)
    clock.now += 0.5
    journal.record(key, "A", "B", 1500)
    assert journal.seen(key) is None  # before both
    clock.now += 1.0  # the first is due, the second is not
    assert journal.seen(key) == "A"
    assert journal.under(key[:-1]) == {key: "A"}
    clock.now += 0.5
    assert journal.seen(key) is _LIVE  # both visible: moto's state is what is seen
    assert not journal

    journal.record(key, "B", "C", 1500)
    journal.record(key, "C", "D", 0)  # made with no delay: seen at once, hides the older one
    assert journal.seen(key) is _LIVE
