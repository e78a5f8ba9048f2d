"""End to end: the real server, started through launch.py, driven with boto3 and real keys.

As local_aws.rs does, the first INITIAL_NO_AUTH_ACTION_COUNT requests are free and seed admin
users (in the default account and, with moto's x-moto-account-id header, in a second one);
everything after is signed and authorized by the patched moto. Each test asserts the exact
error code of a refusal next to the success it is contrasted with.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError
from conftest import ACCOUNT, ALLOW_ALL, OTHER, Aws, Keys, assume, code, expire_session, role, trust, unique, user_with_key

LIST_ROLES = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["iam:ListRoles", "iam:GetRole"], "Resource": "*"}]})
# What the broker attaches to every JIT AssumeRole (shared/src/domain/iam_policies.rs).
JIT_SESSION_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "RolePermissions", "Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Sid": "NoRoleChaining", "Effect": "Deny", "Action": ["sts:AssumeRole", "sts:GetSessionToken"], "Resource": "*"},
        ],
    }
)


def jit_user(aws: Aws, name: str, role_arns: list[str]) -> tuple[str, Keys]:
    """A provisioned user as the broker makes one: the session deny and the JIT allow."""
    session_deny = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Deny", "NotAction": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession", "sts:GetCallerIdentity"], "Resource": "*"},
                {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*", "Condition": {"StringNotLike": {"sts:RoleSessionName": "cib-*"}}},
            ],
        }
    )
    jit = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"], "Resource": role_arns}]}
    )
    return user_with_key(aws, name, session_deny, jit)


def jit_trust(user_arn: str, email: str, user_name: str) -> str:
    """The trust statements the broker asks of a JIT role (iam_policies::trust_statements)."""
    return trust(
        {
            "Effect": "Allow",
            "Principal": {"AWS": user_arn},
            "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"],
            "Condition": {"StringEquals": {"sts:SourceIdentity": email}, "StringLike": {"sts:RoleSessionName": "cib-*"}},
        },
        {"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:RoleSessionName": user_name}}},
    )


def jit_setup(aws: Aws, tag: str):
    """A JIT role (work: iam:ListRoles) and a provisioned user trusted by it."""
    role_name, user_name = unique(f"OnCall-{tag}"), unique(f"u-{tag}")
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{role_name}"
    user_arn, keys = jit_user(aws, user_name, [role_arn])
    role(aws, role_name, jit_trust(user_arn, f"{user_name}@example.com", user_name), LIST_ROLES)
    return role_name, role_arn, user_name, keys


def jit_session(aws: Aws, keys: Keys, role_arn: str, name: str, email: str) -> Keys:
    return assume(
        aws,
        keys,
        role_arn,
        name,
        SourceIdentity=email,
        Policy=JIT_SESSION_POLICY,
        Tags=[{"Key": "cloud-iam-broker:session-id", "Value": name[4:]}],
        DurationSeconds=900,
    )


def list_roles(aws: Aws, keys: Keys):
    return aws.client("iam", keys).list_roles()


# ---------------------------------------------------------------------------------------------


def test_free_requests_then_signed_requests_only(aws):
    # The seeding spent every free request: a bogus key is now refused, a real one works.
    bogus = Keys("AKIABOOTSTRAP0000000", "bootstrap")
    with pytest.raises(ClientError) as e:
        list_roles(aws, bogus)
    assert code(e) == "InvalidClientTokenId"
    assert "Roles" in list_roles(aws, aws.admin)
    assert aws.client("sts", aws.other_admin).get_caller_identity()["Account"] == OTHER


def test_deny_on_userid_revokes_one_session_of_a_role(aws):
    role_name, role_arn, user_name, keys = jit_setup(aws, "rev")
    email = f"{user_name}@example.com"
    a = jit_session(aws, keys, role_arn, "cib-AAAA", email)
    b = jit_session(aws, keys, role_arn, "cib-BBBB", email)
    list_roles(aws, a)
    list_roles(aws, b)
    deny = {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"StringLike": {"aws:userid": ["*:cib-AAAA"]}}}
    aws.client("iam", aws.admin).put_role_policy(
        RoleName=role_name, PolicyName="CloudIamBrokerRevocations", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [deny]})
    )
    with pytest.raises(ClientError) as e:
        list_roles(aws, a)
    assert code(e) == "AccessDenied"
    list_roles(aws, b)  # the other session of the same role keeps working
    c = jit_session(aws, keys, role_arn, "cib-CCCC", email)
    list_roles(aws, c)  # and a session started afterwards works


def test_deny_on_token_issue_time_cuts_older_sessions_only(aws):
    name = unique("console")
    user_arn, keys = user_with_key(aws, name, ALLOW_ALL)
    role_name = unique("Switch")
    role_arn = role(aws, role_name, jit_trust(user_arn, "x@example.com", name), LIST_ROLES)
    before = assume(aws, keys, role_arn, name)
    time.sleep(0.02)
    cut = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    time.sleep(0.02)
    after = assume(aws, keys, role_arn, name)
    deny = {
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {"StringLike": {"aws:userid": f"*:{name}"}, "DateLessThan": {"aws:TokenIssueTime": cut}},
    }
    aws.client("iam", aws.admin).put_role_policy(RoleName=role_name, PolicyName="cut", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [deny]}))
    with pytest.raises(ClientError) as e:
        list_roles(aws, before)
    assert code(e) == "AccessDenied"
    list_roles(aws, after)


def test_trust_policy_conditions(aws):
    role_name, role_arn, user_name, keys = jit_setup(aws, "trust")
    email = f"{user_name}@example.com"
    refusals = [
        dict(RoleSessionName="not-cib", SourceIdentity=email),  # session deny + trust: name
        dict(RoleSessionName="cib-1"),  # no SourceIdentity: neither statement allows
        dict(RoleSessionName="cib-2", SourceIdentity="mallory@example.com"),  # wrong one
    ]
    sts = aws.client("sts", keys)
    for kwargs in refusals:
        with pytest.raises(ClientError) as e:
            sts.assume_role(RoleArn=role_arn, **kwargs)
        assert code(e) == "AccessDenied", kwargs
    out = sts.assume_role(RoleArn=role_arn, RoleSessionName="cib-3", SourceIdentity=email)
    assert out["SourceIdentity"] == email
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/cib-3"


def test_console_statement_allows_the_user_name_without_source_identity(aws):
    name = unique("console")
    user_arn, keys = user_with_key(aws, name, ALLOW_ALL)
    role_arn = role(aws, unique("Console"), jit_trust(user_arn, "x@example.com", name), LIST_ROLES)
    list_roles(aws, assume(aws, keys, role_arn, name))
    # The console statement grants sts:AssumeRole only: no sts:SetSourceIdentity with it.
    with pytest.raises(ClientError) as e:
        assume(aws, keys, role_arn, name, SourceIdentity="x@example.com")
    assert code(e) == "AccessDenied"


def test_session_tags_need_tag_session_and_become_principal_tags(aws):
    name = unique("tagger")
    user_arn, keys = user_with_key(aws, name, ALLOW_ALL)
    no_red = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iam:ListRoles", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "red"}}}]}
    )
    assume_only = trust({"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"})
    untagged = role(aws, unique("NoTags"), assume_only, LIST_ROLES)
    with pytest.raises(ClientError) as e:
        assume(aws, keys, untagged, "s1", Tags=[{"Key": "team", "Value": "blue"}])
    assert code(e) == "AccessDenied"
    assume(aws, keys, untagged, "s1")
    tagged = role(aws, unique("Tags"), trust({"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": ["sts:AssumeRole", "sts:TagSession"]}), LIST_ROLES, no_red)
    red = assume(aws, keys, tagged, "s1", Tags=[{"Key": "team", "Value": "red"}])
    blue = assume(aws, keys, tagged, "s1", Tags=[{"Key": "team", "Value": "blue"}])
    with pytest.raises(ClientError) as e:
        list_roles(aws, red)
    assert code(e) == "AccessDenied"
    list_roles(aws, blue)


def _chain(aws: Aws, tag: str, second_trust_actions, first_policy=None):
    """user → A (SourceIdentity alice@example.com) → B, where B denies iam:ListRoles to
    any session whose aws:SourceIdentity is alice's."""
    name = unique(tag)
    user_arn, keys = user_with_key(aws, name, ALLOW_ALL)
    a_name, b_name = unique("A"), unique("B")
    a_arn = f"arn:aws:iam::{ACCOUNT}:role/{a_name}"
    b_arn = f"arn:aws:iam::{ACCOUNT}:role/{b_name}"
    a_policy = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "iam:ListRoles"], "Resource": "*"}]}
    )
    role(aws, a_name, trust({"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"]}), a_policy)
    not_alice = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"},
                {"Effect": "Deny", "Action": "iam:ListRoles", "Resource": "*", "Condition": {"StringEquals": {"aws:SourceIdentity": "alice@example.com"}}},
            ],
        }
    )
    role(aws, b_name, trust({"Effect": "Allow", "Principal": {"AWS": a_arn}, "Action": second_trust_actions}), not_alice)
    first = assume(aws, keys, a_arn, "first", SourceIdentity="alice@example.com", **({"Policy": first_policy} if first_policy else {}))
    return first, b_arn


def test_source_identity_propagates_through_role_chaining(aws):
    first, b_arn = _chain(aws, "chain", ["sts:AssumeRole", "sts:SetSourceIdentity"])
    out = aws.client("sts", first).assume_role(RoleArn=b_arn, RoleSessionName="second")
    assert out["SourceIdentity"] == "alice@example.com"
    c = out["Credentials"]
    second = Keys(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    with pytest.raises(ClientError) as e:
        list_roles(aws, second)  # B denies alice's sessions: the identity was carried over
    assert code(e) == "AccessDenied"
    list_roles(aws, first)
    # It cannot be changed along the chain.
    with pytest.raises(ClientError) as e:
        assume(aws, first, b_arn, "third", SourceIdentity="bob@example.com")
    assert code(e) == "AccessDenied"


def test_chaining_a_source_identity_needs_set_source_identity_in_the_trust(aws):
    first, b_arn = _chain(aws, "chain-nosi", ["sts:AssumeRole"])
    with pytest.raises(ClientError) as e:
        assume(aws, first, b_arn, "second")
    assert code(e) == "AccessDenied"


def test_session_policy_denying_assume_role_stops_chaining(aws):
    free, b_arn = _chain(aws, "chain-free", ["sts:AssumeRole", "sts:SetSourceIdentity"])
    assume(aws, free, b_arn, "second")  # without the session policy: allowed
    held, b_arn = _chain(aws, "chain-held", ["sts:AssumeRole", "sts:SetSourceIdentity"], first_policy=JIT_SESSION_POLICY)
    list_roles(aws, held)  # the session policy allows the role's own permissions
    with pytest.raises(ClientError) as e:
        assume(aws, held, b_arn, "second")
    assert code(e) == "AccessDenied"


def test_user_deny_all_inline_policy(aws):
    name = unique("denied")
    _, keys = user_with_key(aws, name, ALLOW_ALL)
    list_roles(aws, keys)
    deny = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "NotAction": ["sts:GetCallerIdentity"], "Resource": "*"}]})
    aws.client("iam", aws.admin).put_user_policy(UserName=name, PolicyName="deny", PolicyDocument=deny)
    with pytest.raises(ClientError) as e:
        list_roles(aws, keys)
    assert code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        aws.client("s3", keys).list_buckets()
    assert code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        aws.client("dynamodb", keys).list_tables()
    assert code(e) == "AccessDeniedException"  # JSON services answer in their own format
    assert aws.client("sts", keys).get_caller_identity()["Arn"].endswith(f":user/{name}")


def test_assume_role_into_a_missing_role_is_refused(aws):
    with pytest.raises(ClientError) as e:
        assume(aws, aws.admin, f"arn:aws:iam::{ACCOUNT}:role/{unique('Nope')}", "s1")
    assert code(e) == "AccessDenied"


def test_identity_allow_resource_is_honoured(aws):
    root = trust({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"})
    a = role(aws, unique("RoleA"), root, LIST_ROLES)
    b = role(aws, unique("RoleB"), root, LIST_ROLES)
    only_a = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": a}]})
    _, keys = user_with_key(aws, unique("picky"), only_a)
    list_roles(aws, assume(aws, keys, a, "s1"))
    with pytest.raises(ClientError) as e:
        assume(aws, keys, b, "s1")
    assert code(e) == "AccessDenied"


def test_allow_with_not_action_on_s3_resources_only(aws):
    # reference_policies_elements_notaction.html, "NotAction with Allow":
    #     "Effect": "Allow", "NotAction": "s3:DeleteBucket", "Resource": "arn:aws:s3:::*"
    # "allows users to access all of the Amazon S3 actions that can be performed on any S3
    # resource except for deleting a bucket. This does not allow users to use the
    # ListAllMyBuckets S3 API operation, because that action requires the "*" resource. This
    # policy also does not allow actions in other services".
    doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "NotAction": "s3:DeleteBucket", "Resource": "arn:aws:s3:::*"}]})
    _, keys = user_with_key(aws, unique("s3-but-delete"), doc)
    s3 = aws.client("s3", keys)
    bucket = unique("notaction")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    s3.delete_object(Bucket=bucket, Key="k")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        s3.list_buckets()
    assert code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        list_roles(aws, keys)
    assert code(e) == "AccessDenied"
    # The same user with "*" may list its buckets.
    star = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
    aws.client("iam", aws.admin).put_user_policy(UserName=s3_user_name(aws, keys), PolicyName="star", PolicyDocument=star)
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def s3_user_name(aws: Aws, keys: Keys) -> str:
    return aws.client("sts", keys).get_caller_identity()["Arn"].rsplit("/", 1)[1]


def test_cross_account_needs_trust_and_identity(aws):
    # The seeded shape: a role in another account trusting a user here, with an ExternalId.
    name = unique("broker")
    user_arn, keys = user_with_key(aws, name, ALLOW_ALL)
    _, bare = user_with_key(aws, unique("bare"))
    role_arn = role(
        aws,
        "Access-" + name,
        trust({"Effect": "Allow", "Principal": {"AWS": [user_arn]}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "xid"}}}),
        ALLOW_ALL,
        admin=aws.other_admin,
    )
    assert role_arn.startswith(f"arn:aws:iam::{OTHER}:role/")
    session = assume(aws, keys, role_arn, "verify", ExternalId="xid", DurationSeconds=900)
    assert aws.client("sts", session).get_caller_identity()["Account"] == OTHER
    list_roles(aws, session)
    with pytest.raises(ClientError) as e:
        assume(aws, keys, role_arn, "verify", ExternalId="wrong")
    assert code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:  # not named by the trust policy
        assume(aws, bare, role_arn, "verify", ExternalId="xid")
    assert code(e) == "AccessDenied"


def test_cross_account_trust_alone_is_not_enough(aws):
    name = unique("noperm")
    user_arn, keys = user_with_key(aws, name)  # no identity policy at all
    role_arn = role(aws, "X-" + name, trust({"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}), admin=aws.other_admin)
    with pytest.raises(ClientError) as e:
        assume(aws, keys, role_arn, "s1")
    assert code(e) == "AccessDenied"
    # Same account, a trust naming the user directly suffices on its own.
    same = role(aws, "Y-" + name, trust({"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}), LIST_ROLES)
    list_roles(aws, assume(aws, keys, same, "s1"))


def test_expired_session_is_refused(aws):
    name = unique("short")
    user_arn, keys = user_with_key(aws, name, ALLOW_ALL)
    role_arn = role(aws, unique("Short"), trust({"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}), LIST_ROLES)
    # STS's minimum is 900 s: the control endpoint ends the session's life instead of a wait.
    session = assume(aws, keys, role_arn, "s1", DurationSeconds=900)
    list_roles(aws, session)
    assert expire_session(aws, session.id)[0] == 200
    with pytest.raises(ClientError) as e:
        list_roles(aws, session)
    assert code(e) == "ExpiredToken"


def test_deactivated_key_is_refused(aws):
    name = unique("inactive")
    _, keys = user_with_key(aws, name, ALLOW_ALL)
    list_roles(aws, keys)
    aws.client("iam", aws.admin).update_access_key(UserName=name, AccessKeyId=keys.id, Status="Inactive")
    with pytest.raises(ClientError) as e:
        list_roles(aws, keys)
    assert code(e) == "InvalidClientTokenId"


def test_sessions_of_a_deleted_role_lose_their_permissions(aws):
    name = unique("gone")
    user_arn, keys = user_with_key(aws, name, ALLOW_ALL)
    role_name = unique("Gone")
    role_arn = role(aws, role_name, trust({"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}), LIST_ROLES)
    session = assume(aws, keys, role_arn, "s1")
    list_roles(aws, session)
    iam = aws.client("iam", aws.admin)
    iam.delete_role_policy(RoleName=role_name, PolicyName="p0")
    iam.delete_role(RoleName=role_name)
    # Re-created under the same name: a new role (new id), the old session is not its.
    role(aws, role_name, trust({"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}), LIST_ROLES)
    with pytest.raises(ClientError) as e:
        list_roles(aws, session)
    assert code(e) == "AccessDenied"
    list_roles(aws, assume(aws, keys, role_arn, "s1"))


def _padded(statements: int, pad: int = 0) -> str:
    deny = [
        {"Sid": f"S{i}", "Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"StringLike": {"aws:userid": f"*{i:016d}"}}}
        for i in range(statements)
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": deny}, indent=pad or None)


def test_role_inline_policies_are_limited_to_10240_characters_together(aws):
    from cib_local_aws.policy_limits import size

    role_name = unique("Big")
    role(aws, role_name, trust({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}))
    iam = aws.client("iam", aws.admin)
    doc = _padded(60, pad=8)  # lots of white space, which IAM does not count
    assert size(doc) < 10240 < len(doc)
    iam.put_role_policy(RoleName=role_name, PolicyName="a", PolicyDocument=doc)
    iam.put_role_policy(RoleName=role_name, PolicyName="a", PolicyDocument=doc)  # replacing is not adding
    rest = 10240 - size(doc)
    n = 1
    while size(_padded(n + 1)) <= rest:
        n += 1
    iam.put_role_policy(RoleName=role_name, PolicyName="b", PolicyDocument=_padded(n))
    with pytest.raises(ClientError) as e:
        iam.put_role_policy(RoleName=role_name, PolicyName="b", PolicyDocument=_padded(n + 1))
    assert code(e) == "LimitExceeded"


def test_managed_policies_are_limited_to_6144_characters(aws):
    from cib_local_aws.policy_limits import size

    iam = aws.client("iam", aws.admin)
    n = 1
    while size(_padded(n + 1)) <= 6144:
        n += 1
    arn = iam.create_policy(PolicyName=unique("page"), PolicyDocument=_padded(n))["Policy"]["Arn"]
    with pytest.raises(ClientError) as e:
        iam.create_policy(PolicyName=unique("page"), PolicyDocument=_padded(n + 1))
    assert code(e) == "LimitExceeded"
    with pytest.raises(ClientError) as e:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=_padded(n + 1), SetAsDefault=True)
    assert code(e) == "LimitExceeded"
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=_padded(n - 1), SetAsDefault=True)


def test_managed_policy_attached_to_a_role_is_enforced(aws):
    name = unique("managed")
    user_arn, keys = user_with_key(aws, name, ALLOW_ALL)
    role_name = unique("Managed")
    role_arn = role(aws, role_name, trust({"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}), LIST_ROLES)
    session = assume(aws, keys, role_arn, "cib-PAGE1")
    list_roles(aws, session)
    iam = aws.client("iam", aws.admin)
    page = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"StringLike": {"aws:userid": "*PAGE1"}}}]})
    arn = iam.create_policy(PolicyName=unique("page"), PolicyDocument=page)["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=role_name, PolicyArn=arn)
    with pytest.raises(ClientError) as e:
        list_roles(aws, session)
    assert code(e) == "AccessDenied"
    list_roles(aws, assume(aws, keys, role_arn, "cib-PAGE2"))


def test_the_broker_resources_work_with_an_allow_all_key(aws):
    # What local_aws.rs creates with the broker's key after the free requests.
    ddb = aws.client("dynamodb", aws.admin)
    table = unique("table")
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}, {"AttributeName": "SK", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
    )
    ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"AttributeName": "ttl", "Enabled": True})
    s3 = aws.client("s3", aws.admin, s3={"addressing_style": "path"})
    bucket = unique("bucket")
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=bucket)
    assert e.value.response["Error"]["Code"] == "404"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    kms = aws.client("kms", aws.admin)
    key = kms.create_key(Description="test")["KeyMetadata"]["KeyId"]
    alias = "alias/" + unique("k")
    kms.create_alias(AliasName=alias, TargetKeyId=key)
    assert kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == key

    # TransactWriteItems (with the cheap backup): a cancelled transaction changes nothing.
    ddb.put_item(TableName=table, Item={"PK": {"S": "a"}, "SK": {"S": "1"}, "v": {"N": "1"}})
    ddb.put_item(TableName=table, Item={"PK": {"S": "b"}, "SK": {"S": "1"}, "v": {"N": "1"}})
    with pytest.raises(ClientError) as e:
        ddb.transact_write_items(
            TransactItems=[
                {"Update": {"TableName": table, "Key": {"PK": {"S": "a"}, "SK": {"S": "1"}}, "UpdateExpression": "SET v = :two", "ExpressionAttributeValues": {":two": {"N": "2"}}}},
                {"ConditionCheck": {"TableName": table, "Key": {"PK": {"S": "b"}, "SK": {"S": "1"}}, "ConditionExpression": "attribute_not_exists(PK)"}},
            ]
        )
    assert code(e) == "TransactionCanceledException"
    assert ddb.get_item(TableName=table, Key={"PK": {"S": "a"}, "SK": {"S": "1"}})["Item"]["v"] == {"N": "1"}
    ddb.transact_write_items(
        TransactItems=[
            {"Update": {"TableName": table, "Key": {"PK": {"S": "a"}, "SK": {"S": "1"}}, "UpdateExpression": "SET v = :two", "ExpressionAttributeValues": {":two": {"N": "2"}}}},
            {"Put": {"TableName": table, "Item": {"PK": {"S": "c"}, "SK": {"S": "1"}}}},
        ]
    )
    assert ddb.get_item(TableName=table, Key={"PK": {"S": "a"}, "SK": {"S": "1"}})["Item"]["v"] == {"N": "2"}


def test_a_cancelled_transaction_says_which_item_failed_and_why(aws):
    # TransactWriteItems: a TransactionCanceledException carries "CancellationReasons", one per
    # item in order, Code "None" for items that did not cause it and "ConditionalCheckFailed"
    # for a failed condition
    # (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
    # The broker reads them: only a failed condition is a conflict (dynamodb/mod.rs `transact`).
    ddb = aws.client("dynamodb", aws.admin)
    table = unique("reasons")
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}, {"AttributeName": "SK", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
    )
    ddb.put_item(TableName=table, Item={"PK": {"S": "taken"}, "SK": {"S": "1"}})
    with pytest.raises(ClientError) as e:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"PK": {"S": "free"}, "SK": {"S": "1"}}, "ConditionExpression": "attribute_not_exists(PK)"}},
                {"Put": {"TableName": table, "Item": {"PK": {"S": "taken"}, "SK": {"S": "1"}}, "ConditionExpression": "attribute_not_exists(PK)"}},
            ]
        )
    assert code(e) == "TransactionCanceledException"
    reasons = e.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed"], reasons
    assert "Item" not in reasons[1], "the old item only with ReturnValuesOnConditionCheckFailure"
    assert "Item" not in ddb.get_item(TableName=table, Key={"PK": {"S": "free"}, "SK": {"S": "1"}})


def test_transactions_racing_for_one_item_take_turns(aws):
    # DynamoDB isolates transactions serializably from one another and from single-item writes
    # ("Isolation levels for DynamoDB transactions",
    # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html): of
    # transactions that each use up one item on condition it still exists, exactly one commits.
    # (The broker uses up an issued ExternalId so: dynamodb/accounts.rs `consume_external_id`.)
    ddb = aws.client("dynamodb", aws.admin)
    table = unique("turns")
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}, {"AttributeName": "SK", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
    )
    ticket = {"PK": {"S": "ticket"}, "SK": {"S": "1"}}
    for round_ in range(5):
        ddb.put_item(TableName=table, Item=ticket)

        def take(i, round_=round_):
            client = aws.client("dynamodb", aws.admin)
            try:
                client.transact_write_items(
                    TransactItems=[
                        {"Delete": {"TableName": table, "Key": ticket, "ConditionExpression": "attribute_exists(PK)"}},
                        {"Put": {"TableName": table, "Item": {"PK": {"S": f"taker-{round_}-{i}"}, "SK": {"S": "1"}}}},
                    ]
                )
                return True
            except ClientError as e:
                assert e.response["Error"]["Code"] == "TransactionCanceledException", e.response
                return False

        with ThreadPoolExecutor(12) as pool:
            won = list(pool.map(take, range(12)))
        assert won.count(True) == 1, won
        takers = [i for i in ddb.scan(TableName=table)["Items"] if i["PK"]["S"].startswith(f"taker-{round_}-")]
        assert len(takers) == 1, takers


def test_a_principal_without_policies_is_refused_everywhere_but_get_caller_identity(aws):
    name = unique("nobody")
    _, keys = user_with_key(aws, name)
    for call in (
        lambda: list_roles(aws, keys),
        lambda: aws.client("kms", keys).list_keys(),
        lambda: aws.client("dynamodb", keys).list_tables(),
        lambda: aws.client("s3", keys).list_buckets(),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) in ("AccessDenied", "AccessDeniedException")
    assert aws.client("sts", keys).get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{name}"
