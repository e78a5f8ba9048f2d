"""AssumeRole's DurationSeconds, end to end, as the STS API reference (API_AssumeRole.html,
"DurationSeconds") and the IAM User Guide ("Update the maximum session duration for a role",
"Role chaining") describe it: 900 to 43200 seconds, at most the role's MaxSessionDuration (1 to
12 hours, 1 hour unless set), at most one hour when a role session assumes a role, 3600 when
not given. Each refusal is asserted with its HTTP status, code and message next to the success
it is contrasted with.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError
from conftest import ALLOW_ALL, Aws, Keys, assume, code, expire_session, role, trust, unique, user_with_key

ROLE_MAX = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
CHAINED_MAX = "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
LIST_ROLES = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}]})


def trusting(principal_arn: str) -> str:
    return trust({"Effect": "Allow", "Principal": {"AWS": principal_arn}, "Action": "sts:AssumeRole"})


def setup(aws: Aws, max_session_duration: int | None = None) -> tuple[str, Keys]:
    """A user allowed everything, and a role trusting it (MaxSessionDuration as given)."""
    user_arn, keys = user_with_key(aws, unique("u"), ALLOW_ALL)
    name = unique("Duration")
    iam = aws.client("iam", aws.admin)
    extra = {} if max_session_duration is None else {"MaxSessionDuration": max_session_duration}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trusting(user_arn), **extra)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=LIST_ROLES)
    return arn, keys


def lifetime(aws: Aws, keys: Keys, role_arn: str, **kwargs) -> float:
    """Seconds from now to the Expiration of the credentials AssumeRole returns."""
    out = aws.client("sts", keys).assume_role(RoleArn=role_arn, RoleSessionName="s1", **kwargs)
    return (out["Credentials"]["Expiration"] - datetime.now(timezone.utc)).total_seconds()


def refusal(aws: Aws, keys: Keys, role_arn: str, duration: int) -> tuple[int, str, str]:
    """(HTTP status, code, message) of an AssumeRole that must fail. botocore's own range check
    is off, so the server sees what it is sent."""
    sts = aws.client("sts", keys, parameter_validation=False)
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="s1", DurationSeconds=duration)
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"], code(e), e.value.response["Error"]["Message"]


# ---------------------------------------------------------------------------------------------


def test_within_the_roles_maximum_is_accepted(aws):
    role_arn, keys = setup(aws)  # MaxSessionDuration unset: one hour
    assert 895 <= lifetime(aws, keys, role_arn, DurationSeconds=900) <= 900
    assert 3595 <= lifetime(aws, keys, role_arn, DurationSeconds=3600) <= 3600
    assert 3595 <= lifetime(aws, keys, role_arn) <= 3600  # "By default, the value is set to 3600 seconds"


def test_above_the_roles_maximum_is_refused(aws):
    role_arn, keys = setup(aws)
    assert refusal(aws, keys, role_arn, 3601) == (400, "ValidationError", ROLE_MAX)
    assert refusal(aws, keys, role_arn, 43200) == (400, "ValidationError", ROLE_MAX)


def test_a_role_with_a_two_hour_maximum(aws):
    role_arn, keys = setup(aws, max_session_duration=7200)
    assert 7195 <= lifetime(aws, keys, role_arn, DurationSeconds=7200) <= 7200
    assert refusal(aws, keys, role_arn, 7201) == (400, "ValidationError", ROLE_MAX)


def test_the_maximum_read_is_the_roles_current_one(aws):
    role_arn, keys = setup(aws)
    assert refusal(aws, keys, role_arn, 7200)[2] == ROLE_MAX
    aws.client("iam", aws.admin).update_role(RoleName=role_arn.split("/")[-1], MaxSessionDuration=43200)
    assert 43195 <= lifetime(aws, keys, role_arn, DurationSeconds=43200) <= 43200


def test_role_chaining_is_limited_to_one_hour(aws):
    first_arn, keys = setup(aws, max_session_duration=43200)
    aws.client("iam", aws.admin).put_role_policy(RoleName=first_arn.split("/")[-1], PolicyName="all", PolicyDocument=ALLOW_ALL)
    # The role a session of the first one assumes allows 12 hours: chaining still caps at one.
    second_arn = role(aws, unique("Chained"), trusting(first_arn), LIST_ROLES)
    aws.client("iam", aws.admin).update_role(RoleName=second_arn.split("/")[-1], MaxSessionDuration=43200)
    session = assume(aws, keys, first_arn, "first", DurationSeconds=7200)  # a user: not chaining
    assert refusal(aws, session, second_arn, 3601) == (400, "ValidationError", CHAINED_MAX)
    assert refusal(aws, session, second_arn, 43200) == (400, "ValidationError", CHAINED_MAX)
    assert 3595 <= lifetime(aws, session, second_arn, DurationSeconds=3600) <= 3600
    assert 3595 <= lifetime(aws, session, second_arn) <= 3600  # the default is within the limit
    # The user, not a session, still has the long one.
    assert 43195 <= lifetime(aws, keys, first_arn, DurationSeconds=43200) <= 43200


def test_below_900_and_above_43200_are_refused(aws):
    role_arn, keys = setup(aws, max_session_duration=43200)
    assert refusal(aws, keys, role_arn, 899) == (
        400,
        "ValidationError",
        "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: "
        "Member must have value greater than or equal to 900",
    )
    assert refusal(aws, keys, role_arn, 0)[1] == "ValidationError"
    assert refusal(aws, keys, role_arn, 43201) == (
        400,
        "ValidationError",
        "1 validation error detected: Value '43201' at 'durationSeconds' failed to satisfy constraint: "
        "Member must have value less than or equal to 43200",
    )
    assert 43195 <= lifetime(aws, keys, role_arn, DurationSeconds=43200) <= 43200


def test_the_range_is_checked_before_the_roles_maximum_and_chaining(aws):
    role_arn, keys = setup(aws)
    assert "durationSeconds" in refusal(aws, keys, role_arn, 50000)[2]
    aws.client("iam", aws.admin).put_role_policy(RoleName=role_arn.split("/")[-1], PolicyName="all", PolicyDocument=ALLOW_ALL)
    session = assume(aws, keys, role_arn, "first")
    second = role(aws, unique("Chained"), trusting(role_arn), LIST_ROLES)  # one hour maximum
    assert refusal(aws, session, second, 899)[2].startswith("1 validation error detected: Value '899'")
    assert refusal(aws, session, second, 7200)[2] == ROLE_MAX


def test_the_expire_endpoint(aws):
    role_arn, keys = setup(aws)
    session = assume(aws, keys, role_arn, "s1", DurationSeconds=900)
    aws.client("iam", session).list_roles()
    status, body = expire_session(aws, session.id)
    assert (status, body["AccessKeyId"]) == (200, session.id)
    assert datetime.fromisoformat(body["Expiration"]) <= datetime.now(timezone.utc)
    with pytest.raises(ClientError) as e:
        aws.client("iam", session).list_roles()
    assert code(e) == "ExpiredToken"
    assert expire_session(aws, "ASIANOSUCHSESSION000")[0] == 404
    assert expire_session(aws, keys.id)[0] == 404  # a user's key is no session's
    assert expire_session(aws, "")[0] == 400
