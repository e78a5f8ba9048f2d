"""iam_quotas: cases from AWS's documentation, against the real server (and the pure helpers).

- "IAM JSON policy elements: Sid": "In IAM, the Sid value must be unique within a JSON policy";
  AWS answers MalformedPolicyDocument (HTTP 400) "Statement IDs (SID) in a single policy must be
  unique." in every call that writes a policy.
- "IAM and AWS STS quotas" (reference_iam-quotas.html): "Role trust policy length" 2,048
  characters by default, adjustable to 4,096, white space not counted; AWS answers LimitExceeded
  (HTTP 409) "Cannot exceed quota for ACLSizePerRole: 2048". "Managed policies attached to an IAM
  role" / "... IAM user" / "... IAM group": 10; LimitExceeded "Cannot exceed quota for
  PoliciesPerRole: 10" (PoliciesPerUser, PoliciesPerGroup).
- IAM API reference, ListUsers and ListRoles: "This operation does not return the following
  attributes, even though they are an attribute of the returned object: ... Tags"; GetUser,
  GetRole, ListUserTags and ListRoleTags do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import pytest
from botocore.exceptions import ClientError
from conftest import ACCOUNT, LAUNCH, code, local_aws, trust, unique

from cib_local_aws.iam_quotas import TRUST_QUOTA_ENV, has_duplicate_sid, trust_quota_from_environment
from cib_local_aws.policy_limits import size

DUPLICATE_SID = "Statement IDs (SID) in a single policy must be unique."
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def status(e: pytest.ExceptionInfo) -> int:
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def message(e: pytest.ExceptionInfo) -> str:
    return e.value.response["Error"]["Message"]


def identity_policy(*sids) -> str:
    """One statement per entry; None: a statement without a Sid."""
    actions = ["s3:ListAllMyBuckets", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    statements = []
    for i, sid in enumerate(sids):
        statement = {"Effect": "Allow", "Action": actions[i % len(actions)], "Resource": "*"}
        if sid is not None:
            statement = {"Sid": sid, **statement}
        statements.append(statement)
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def trust_policy(*sids) -> str:
    statements = []
    for i, sid in enumerate(sids):
        statement = {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": f"id{i}"}}}
        if sid is not None:
            statement = {"Sid": sid, **statement}
        statements.append(statement)
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def trust_of_size(characters: int, indent: int | None = None) -> str:
    """A trust policy of exactly `characters` characters as IAM counts them (no white space)."""

    def doc(pad: str) -> str:
        statement = {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "x" + pad}}}
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, indent=indent, separators=None if indent else (",", ":"))

    result = doc("y" * (characters - size(doc(""))))
    assert size(result) == characters
    return result


def simple_trust() -> str:
    return trust({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole"})


# --- the pure helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sids", "duplicate"),
    [
        (("ExampleStatementID", "ExampleStatementID"), True),
        (("A", "B", "A"), True),
        (("A", "B"), False),
        ((None, None), False),  # statements without a Sid never conflict
        (("A", None, None), False),
        (("A", "a"), False),  # compared exactly
        (("", ""), False),  # an empty Sid conflicts with nothing (as in moto)
    ],
)
def test_duplicate_sids_are_found(sids, duplicate):
    assert has_duplicate_sid(identity_policy(*sids)) is duplicate


def test_documents_that_are_not_policies_are_left_to_moto():
    assert has_duplicate_sid("not json") is False
    assert has_duplicate_sid("[]") is False
    assert has_duplicate_sid(json.dumps({"Version": "2012-10-17", "Statement": {"Sid": "A", "Effect": "Allow", "Action": "*", "Resource": "*"}})) is False
    assert has_duplicate_sid(json.dumps({"Statement": ["x", "x", {"Sid": ["A"]}, {"Sid": ["A"]}]})) is False


@pytest.mark.parametrize(("raw", "quota"), [(None, 2048), ("", 2048), ("  ", 2048), ("2048", 2048), ("3000", 3000), (" 4096 ", 4096)])
def test_trust_quota_from_the_environment(raw, quota):
    environ = {} if raw is None else {TRUST_QUOTA_ENV: raw}
    assert trust_quota_from_environment(environ) == quota


@pytest.mark.parametrize("raw", ["2047", "4097", "0", "-1", "+3000", "2048.0", "1e3", "0x800", "abc", "8192"])
def test_trust_quota_must_be_a_whole_number_from_2048_to_4096(raw):
    with pytest.raises(ValueError, match=TRUST_QUOTA_ENV):
        trust_quota_from_environment({TRUST_QUOTA_ENV: raw})


def test_an_invalid_trust_quota_stops_the_server_at_start():
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="6", MOTO_IAM_LOAD_MANAGED_POLICIES="false", **{TRUST_QUOTA_ENV: "5000"})
    with tempfile.TemporaryFile() as log:
        # stdin stays open (closing it makes the watchdog end the server, with status 0).
        proc = subprocess.Popen([sys.executable, LAUNCH, "0"], stdin=subprocess.PIPE, stdout=log, stderr=log, env=env, cwd="/")
        try:
            returncode = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        finally:
            proc.stdin.close()
        log.seek(0)
        output = log.read().decode(errors="replace")
    assert returncode != 0
    assert f"{TRUST_QUOTA_ENV} must be a whole number of characters from 2048 to 4096" in output
    assert "'5000'" in output


# --- Sids are unique in every policy written ---------------------------------------------------------


def _create_policy(iam, doc):
    iam.create_policy(PolicyName=unique("p"), PolicyDocument=doc)


def _create_policy_version(iam, doc):
    arn = iam.create_policy(PolicyName=unique("p"), PolicyDocument=identity_policy("A"))["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc, SetAsDefault=True)


def _put_user_policy(iam, doc):
    name = unique("u")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=doc)


def _put_role_policy(iam, doc):
    name = unique("r")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=simple_trust())
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=doc)


def _put_group_policy(iam, doc):
    name = unique("g")
    iam.create_group(GroupName=name)
    iam.put_group_policy(GroupName=name, PolicyName="p", PolicyDocument=doc)


def _create_role(iam, doc):
    iam.create_role(RoleName=unique("r"), AssumeRolePolicyDocument=doc)


def _update_assume_role_policy(iam, doc):
    name = unique("r")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=simple_trust())
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=doc)


WRITES = [
    (_create_policy, identity_policy),
    (_create_policy_version, identity_policy),
    (_put_user_policy, identity_policy),
    (_put_role_policy, identity_policy),
    (_put_group_policy, identity_policy),
    (_create_role, trust_policy),
    (_update_assume_role_policy, trust_policy),
]
WRITE_IDS = [write.__name__.lstrip("_") for write, _ in WRITES]


@pytest.mark.parametrize(("write", "policy"), WRITES, ids=WRITE_IDS)
def test_duplicate_sids_are_malformed_in_every_call_that_writes_a_policy(aws, write, policy):
    iam = aws.client("iam", aws.admin)
    with pytest.raises(ClientError) as e:
        write(iam, policy("ExampleStatementID", "ExampleStatementID"))
    assert (code(e), status(e), message(e)) == ("MalformedPolicyDocument", 400, DUPLICATE_SID)
    with pytest.raises(ClientError) as e:
        write(iam, policy("A", None, "B", "A"))
    assert (code(e), message(e)) == ("MalformedPolicyDocument", DUPLICATE_SID)
    # Unique Sids, and statements without one, are fine.
    write(iam, policy("ExampleStatementID", "Other"))
    write(iam, policy(None, None, "A"))


# --- condition operators AWS does not define ------------------------------------------------------
# reference_policies_grammar.html (condition_type_string: "For a complete list of condition types,
# see IAM JSON policy elements: Condition operators") and reference_policies_elements_condition_operators.html
# ("You can add IfExists to the end of any condition operator name except the Null condition
# operator"); IAM's answer to a Condition naming no operator: MalformedPolicyDocument (HTTP 400)
# "Syntax errors in policy." (aws-cloudformation/cfn-lint#3751).

SYNTAX_ERRORS = "Syntax errors in policy."


def with_condition(policy, condition) -> str:
    """`policy("A")` (an identity or trust policy of one statement) with `condition`."""
    doc = json.loads(policy("A"))
    doc["Statement"][0]["Condition"] = condition
    return json.dumps(doc)


UNREADABLE_CONDITIONS = [
    {"StringEqualsFoo": {"aws:PrincipalTag/team": "red"}},
    {"StringEqualsFoo": {}},  # moto took this one
    {"NullIfExists": {"aws:TokenIssueTime": "true"}},  # and this one
    {"stringequals": {"aws:PrincipalTag/team": "red"}},
    {"StringEquals": {"aws:PrincipalTag/team": "red"}, "ForSomeValues:StringLike": {"aws:TagKeys": "a*"}},
]


@pytest.mark.parametrize(("write", "policy"), WRITES, ids=WRITE_IDS)
def test_unknown_condition_operators_are_malformed_in_every_call_that_writes_a_policy(aws, write, policy):
    iam = aws.client("iam", aws.admin)
    for condition in UNREADABLE_CONDITIONS:
        with pytest.raises(ClientError) as e:
            write(iam, with_condition(policy, condition))
        assert (code(e), status(e), message(e)) == ("MalformedPolicyDocument", 400, SYNTAX_ERRORS), condition
    # Every operator form AWS defines is taken.
    write(
        iam,
        with_condition(
            policy,
            {
                "StringNotEqualsIfExists": {"aws:PrincipalTag/team": "red"},
                "ForAnyValue:StringLike": {"aws:TagKeys": ["a*"]},
                "ForAllValues:StringNotEquals": {"aws:TagKeys": ["b"]},
                "Null": {"aws:TokenIssueTime": "true"},
                "DateGreaterThanIfExists": {"aws:CurrentTime": "2020-01-01T00:00:00Z"},
                "ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/x"},
            },
        ),
    )


def test_a_policy_with_an_unknown_operator_is_not_written(aws):
    iam = aws.client("iam", aws.admin)
    user = unique("u")
    iam.create_user(UserName=user)
    with pytest.raises(ClientError):
        iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=with_condition(identity_policy, {"StringEqualsFoo": {}}))
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == []
    name = unique("r")
    with pytest.raises(ClientError):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=with_condition(trust_policy, {"StringEqualsFoo": {"sts:ExternalId": "x"}}))
    with pytest.raises(ClientError) as e:
        iam.get_role(RoleName=name)
    assert code(e) == "NoSuchEntity"


def test_a_session_policy_with_an_unknown_operator_is_malformed(aws):
    # API_AssumeRole.html, Errors: "MalformedPolicyDocument: The request was rejected because
    # the policy document was malformed." (HTTP 400). STS's message is not documented; IAM's.
    iam = aws.client("iam", aws.admin)
    name = unique("r")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=simple_trust())["Role"]["Arn"]
    sts = aws.client("sts", aws.admin)
    session_policy = with_condition(identity_policy, {"StringEqualsFoo": {"aws:PrincipalTag/team": "red"}})
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=arn, RoleSessionName="session", Policy=session_policy)
    assert (code(e), status(e), message(e)) == ("MalformedPolicyDocument", 400, SYNTAX_ERRORS)
    readable = with_condition(identity_policy, {"StringNotEqualsIfExists": {"aws:PrincipalTag/team": "red"}})
    assert sts.assume_role(RoleArn=arn, RoleSessionName="session", Policy=readable)["Credentials"]["AccessKeyId"].startswith("ASIA")


def test_a_refused_policy_is_not_written(aws):
    iam = aws.client("iam", aws.admin)
    user = unique("u")
    iam.create_user(UserName=user)
    with pytest.raises(ClientError):
        iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=identity_policy("A", "A"))
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == []
    name = unique("r")
    with pytest.raises(ClientError):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy("A", "A"))
    with pytest.raises(ClientError) as e:
        iam.get_role(RoleName=name)
    assert code(e) == "NoSuchEntity"


def test_a_missing_entity_is_reported_before_the_document(aws):
    iam = aws.client("iam", aws.admin)
    with pytest.raises(ClientError) as e:
        iam.put_role_policy(RoleName=unique("missing"), PolicyName="p", PolicyDocument=identity_policy("A", "A"))
    assert code(e) == "NoSuchEntity"
    with pytest.raises(ClientError) as e:
        iam.update_assume_role_policy(RoleName=unique("missing"), PolicyDocument=trust_policy("A", "A"))
    assert code(e) == "NoSuchEntity"


# --- the role trust policy length quota ---------------------------------------------------------------


def test_create_role_trust_policy_up_to_2048_characters(aws):
    iam = aws.client("iam", aws.admin)
    iam.create_role(RoleName=unique("r"), AssumeRolePolicyDocument=trust_of_size(2048))
    name = unique("r")
    with pytest.raises(ClientError) as e:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_of_size(2049))
    assert (code(e), status(e), message(e)) == ("LimitExceeded", 409, "Cannot exceed quota for ACLSizePerRole: 2048")
    with pytest.raises(ClientError) as e:
        iam.get_role(RoleName=name)
    assert code(e) == "NoSuchEntity"


def test_white_space_does_not_count_against_the_trust_quota(aws):
    iam = aws.client("iam", aws.admin)
    padded = trust_of_size(2048, indent=8)
    assert len(padded) > 2048
    iam.create_role(RoleName=unique("r"), AssumeRolePolicyDocument=padded)
    with pytest.raises(ClientError) as e:
        iam.create_role(RoleName=unique("r"), AssumeRolePolicyDocument=trust_of_size(2049, indent=8))
    assert code(e) == "LimitExceeded"


def test_update_assume_role_policy_up_to_2048_characters(aws):
    iam = aws.client("iam", aws.admin)
    name = unique("r")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=simple_trust())
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust_of_size(2048, indent=2))
    with pytest.raises(ClientError) as e:
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust_of_size(2049))
    assert (code(e), status(e), message(e)) == ("LimitExceeded", 409, "Cannot exceed quota for ACLSizePerRole: 2048")
    document = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    assert size(json.dumps(document)) == 2048  # the refused document did not replace it


def test_the_trust_quota_can_be_raised_to_4096():
    with local_aws(**{TRUST_QUOTA_ENV: "4096"}) as server:
        iam = server.client("iam", server.admin)
        name = unique("r")
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_of_size(4096))
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust_of_size(3000))
        with pytest.raises(ClientError) as e:
            iam.create_role(RoleName=unique("r"), AssumeRolePolicyDocument=trust_of_size(4097))
        assert (code(e), message(e)) == ("LimitExceeded", "Cannot exceed quota for ACLSizePerRole: 4096")
        with pytest.raises(ClientError) as e:
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust_of_size(4097))
        assert (code(e), message(e)) == ("LimitExceeded", "Cannot exceed quota for ACLSizePerRole: 4096")


# --- managed policies attached per entity ---------------------------------------------------------------


def _entity(iam, kind: str) -> dict:
    name = unique(kind)
    if kind == "role":
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=simple_trust())
        return {"RoleName": name}
    if kind == "user":
        iam.create_user(UserName=name)
        return {"UserName": name}
    iam.create_group(GroupName=name)
    return {"GroupName": name}


def _calls(iam, kind: str):
    attach = {"role": iam.attach_role_policy, "user": iam.attach_user_policy, "group": iam.attach_group_policy}[kind]
    detach = {"role": iam.detach_role_policy, "user": iam.detach_user_policy, "group": iam.detach_group_policy}[kind]
    listed = {"role": iam.list_attached_role_policies, "user": iam.list_attached_user_policies, "group": iam.list_attached_group_policies}[kind]
    return attach, detach, listed


@pytest.mark.parametrize(("kind", "quota_name"), [("role", "PoliciesPerRole"), ("user", "PoliciesPerUser"), ("group", "PoliciesPerGroup")])
def test_at_most_10_managed_policies_attached(aws, kind, quota_name):
    iam = aws.client("iam", aws.admin)
    entity = _entity(iam, kind)
    attach, detach, listed = _calls(iam, kind)
    arns = [iam.create_policy(PolicyName=unique("m"), PolicyDocument=identity_policy("A"))["Policy"]["Arn"] for _ in range(11)]
    for arn in arns[:10]:
        attach(PolicyArn=arn, **entity)
    with pytest.raises(ClientError) as e:
        attach(PolicyArn=arns[10], **entity)
    assert (code(e), status(e), message(e)) == ("LimitExceeded", 409, f"Cannot exceed quota for {quota_name}: 10")
    # Attaching an attached policy again is not a new attachment, even at the quota.
    attach(PolicyArn=arns[0], **entity)
    assert len(listed(**entity)["AttachedPolicies"]) == 10
    assert iam.get_policy(PolicyArn=arns[0])["Policy"]["AttachmentCount"] == 1
    # A missing policy is still NoSuchEntity, full or not.
    with pytest.raises(ClientError) as e:
        attach(PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/{unique('missing')}", **entity)
    assert code(e) == "NoSuchEntity"
    # Detaching one makes room for one.
    detach(PolicyArn=arns[0], **entity)
    attach(PolicyArn=arns[10], **entity)
    assert {p["PolicyArn"] for p in listed(**entity)["AttachedPolicies"]} == set(arns[1:])


def test_attaching_to_a_missing_entity_is_no_such_entity(aws):
    iam = aws.client("iam", aws.admin)
    arn = iam.create_policy(PolicyName=unique("m"), PolicyDocument=identity_policy("A"))["Policy"]["Arn"]
    with pytest.raises(ClientError) as e:
        iam.attach_role_policy(RoleName=unique("missing"), PolicyArn=arn)
    assert code(e) == "NoSuchEntity"
    with pytest.raises(ClientError) as e:
        iam.attach_user_policy(UserName=unique("missing"), PolicyArn=arn)
    assert code(e) == "NoSuchEntity"


# --- ListUsers and ListRoles return no tags ---------------------------------------------------------------


def test_list_users_returns_no_tags(aws):
    iam = aws.client("iam", aws.admin)
    name = unique("tagged")
    tags = [{"Key": "team", "Value": "security"}]
    iam.create_user(UserName=name, Tags=tags)
    assert iam.get_user(UserName=name)["User"]["Tags"] == tags
    assert iam.list_user_tags(UserName=name)["Tags"] == tags
    listed = [u for u in iam.list_users()["Users"] if u["UserName"] == name]
    assert len(listed) == 1
    assert "Tags" not in listed[0]
    assert listed[0]["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{name}"


def test_list_roles_returns_no_tags(aws):
    iam = aws.client("iam", aws.admin)
    name = unique("tagged")
    tags = [{"Key": "team", "Value": "security"}]
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=simple_trust(), Tags=tags)
    assert iam.get_role(RoleName=name)["Role"]["Tags"] == tags
    assert iam.list_role_tags(RoleName=name)["Tags"] == tags
    listed = [r for r in iam.list_roles()["Roles"] if r["RoleName"] == name]
    assert len(listed) == 1
    assert "Tags" not in listed[0]
    assert listed[0]["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/{name}"
