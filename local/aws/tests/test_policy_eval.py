"""policy_eval against cases taken from AWS's documentation, and the broker's own shapes."""

from __future__ import annotations

import json

import pytest

from cib_local_aws.policy_eval import (
    ALLOW,
    EXPLICIT_DENY,
    IMPLICIT_DENY,
    Principal,
    Request,
    decide,
    evaluate,
    parse_time,
)

V = "2012-10-17"


def policy(*statements, version=V):
    return {"Version": version, "Statement": list(statements)}


def allow(action="*", resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action="*", resource="*", **extra):
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def cond(operator, key, values, context, action="s3:GetObject"):
    """The decision of one Allow statement with one condition, for `context`."""
    doc = policy(allow(Condition={operator: {key: values}}))
    return evaluate(Request(action, "arn:aws:s3:::b/k", context), [doc])


# --- Condition operators -------------------------------------------------------------------
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
# "If the key that you specify in a policy condition is not present in the request context,
# the values do not match and the condition is false. If the policy condition requires that
# the key is not matched, such as StringNotLike or ArnNotLike, and the right key is not
# present, the condition is true. This logic applies to all condition operators except
# ...IfExists and Null check."

OPERATOR_CASES = [
    # String: StringEquals is exact and case sensitive; IgnoreCase ignores case; Like has * and ?
    ("StringEquals", "aws:PrincipalTag/job-category", "iamuser-admin", {"aws:PrincipalTag/job-category": "iamuser-admin"}, True),
    ("StringEquals", "aws:PrincipalTag/job-category", "iamuser-admin", {"aws:PrincipalTag/job-category": "IAMUSER-ADMIN"}, False),
    ("StringEquals", "aws:PrincipalTag/job-category", "iamuser-admin", {}, False),
    ("StringNotEquals", "aws:PrincipalTag/job-category", "iamuser-admin", {"aws:PrincipalTag/job-category": "other"}, True),
    ("StringNotEquals", "aws:PrincipalTag/job-category", "iamuser-admin", {"aws:PrincipalTag/job-category": "iamuser-admin"}, False),
    ("StringNotEquals", "aws:PrincipalTag/job-category", "iamuser-admin", {}, True),
    ("StringEqualsIgnoreCase", "k", "Alice", {"k": "aLICE"}, True),
    ("StringEqualsIgnoreCase", "k", "Alice", {}, False),
    ("StringNotEqualsIgnoreCase", "k", "Alice", {"k": "ALICE"}, False),
    ("StringNotEqualsIgnoreCase", "k", "Alice", {"k": "bob"}, True),
    ("StringNotEqualsIgnoreCase", "k", "Alice", {}, True),
    ("StringLike", "s3:prefix", ["", "home/", "home/*/"], {"s3:prefix": "home/bob/"}, True),
    ("StringLike", "s3:prefix", ["", "home/", "home/*/"], {"s3:prefix": "work/"}, False),
    ("StringLike", "k", "a?c", {"k": "abc"}, True),
    ("StringLike", "k", "a?c", {"k": "abbc"}, False),
    ("StringLike", "k", "A*", {"k": "abc"}, False),  # case sensitive
    ("StringLike", "k", "a*", {}, False),
    ("StringNotLike", "k", "a*", {"k": "abc"}, False),
    ("StringNotLike", "k", "a*", {"k": "xyz"}, True),
    ("StringNotLike", "k", "a*", {}, True),
    # Numeric
    ("NumericLessThanEquals", "s3:max-keys", "10", {"s3:max-keys": "10"}, True),
    ("NumericLessThanEquals", "s3:max-keys", "10", {"s3:max-keys": "11"}, False),
    ("NumericLessThanEquals", "s3:max-keys", "10", {}, False),
    ("NumericEquals", "n", "10", {"n": "10.0"}, True),
    ("NumericNotEquals", "n", "10", {"n": "10"}, False),
    ("NumericNotEquals", "n", "10", {"n": "9"}, True),
    ("NumericNotEquals", "n", "10", {}, True),
    ("NumericLessThan", "n", "10", {"n": "9.5"}, True),
    ("NumericLessThan", "n", "10", {"n": "10"}, False),
    ("NumericGreaterThan", "n", "10", {"n": "10.5"}, True),
    ("NumericGreaterThan", "n", "10", {"n": "10"}, False),
    ("NumericGreaterThanEquals", "n", "10", {"n": "10"}, True),
    ("NumericGreaterThanEquals", "n", "10", {"n": "not a number"}, False),
    # Date: ISO 8601 (W3C forms) or epoch seconds; the doc's example on aws:TokenIssueTime
    ("DateGreaterThan", "aws:TokenIssueTime", "2020-01-01T00:00:01Z", {"aws:TokenIssueTime": "2020-06-01T00:00:00Z"}, True),
    ("DateGreaterThan", "aws:TokenIssueTime", "2020-01-01T00:00:01Z", {"aws:TokenIssueTime": "2019-12-31T00:00:00Z"}, False),
    ("DateGreaterThan", "aws:TokenIssueTime", "2020-01-01T00:00:01Z", {}, False),  # long-term keys
    ("DateLessThan", "aws:CurrentTime", "2020-01-01T00:00:00Z", {"aws:CurrentTime": "2019-12-31T23:59:59Z"}, True),
    ("DateLessThan", "aws:CurrentTime", "2020-01-01T00:00:00Z", {"aws:CurrentTime": "2020-01-01T00:00:00Z"}, False),
    ("DateLessThanEquals", "aws:CurrentTime", "2020-01-01T00:00:00Z", {"aws:CurrentTime": "2020-01-01T00:00:00Z"}, True),
    ("DateGreaterThanEquals", "aws:CurrentTime", "2020-01-01", {"aws:CurrentTime": "2020-01-01T00:00:00Z"}, True),
    ("DateEquals", "aws:CurrentTime", "1577836800", {"aws:CurrentTime": "2020-01-01T00:00:00Z"}, True),  # epoch
    ("DateEquals", "aws:EpochTime", "2020-01-01T01:00:00+01:00", {"aws:EpochTime": "1577836800"}, True),  # offset
    ("DateNotEquals", "aws:CurrentTime", "2020-01-01T00:00:00Z", {"aws:CurrentTime": "2020-01-01T00:00:00Z"}, False),
    ("DateNotEquals", "aws:CurrentTime", "2020-01-01T00:00:00Z", {"aws:CurrentTime": "2021-01-01T00:00:00Z"}, True),
    ("DateNotEquals", "aws:TokenIssueTime", "2020-01-01T00:00:00Z", {}, True),
    # Bool: aws:SecureTransport example
    ("Bool", "aws:SecureTransport", "false", {"aws:SecureTransport": "false"}, True),
    ("Bool", "aws:SecureTransport", "false", {"aws:SecureTransport": "true"}, False),
    ("Bool", "aws:SecureTransport", "false", {}, False),
    ("Bool", "aws:MultiFactorAuthPresent", True, {"aws:MultiFactorAuthPresent": "TRUE"}, True),
    # ARN: six colon-separated parts, each with its own wildcards (doc's counter-example:
    # StringLike matches it, ArnLike does not)
    ("ArnLike", "aws:SourceArn", "arn:aws:someservice:*:111122223333:finance/*", {"aws:SourceArn": "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"}, False),
    ("StringLike", "aws:SourceArn", "arn:aws:someservice:*:111122223333:finance/*", {"aws:SourceArn": "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"}, True),
    ("ArnLike", "aws:SourceArn", "arn:aws:someservice:*:111122223333:finance/*", {"aws:SourceArn": "arn:aws:someservice:us-east-2:111122223333:finance/document.txt"}, True),
    ("ArnEquals", "aws:SourceArn", "arn:aws:sns:*:123456789012:topic", {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:topic"}, True),
    ("ArnEquals", "aws:SourceArn", "arn:aws:sns:us-east-1:123456789012:topic", {}, False),
    ("ArnNotEquals", "aws:SourceArn", "arn:aws:sns:us-east-1:123456789012:topic", {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:other"}, True),
    ("ArnNotLike", "aws:SourceArn", "arn:aws:sns:*:*:topic", {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:topic"}, False),
    ("ArnNotLike", "aws:SourceArn", "arn:aws:sns:*:*:topic", {}, True),
    # IP addresses
    ("IpAddress", "aws:SourceIp", "203.0.113.0/24", {"aws:SourceIp": "203.0.113.7"}, True),
    ("IpAddress", "aws:SourceIp", ["203.0.113.0/24", "2001:DB8:1234:5678::/64"], {"aws:SourceIp": "2001:db8:1234:5678::1"}, True),
    ("NotIpAddress", "aws:SourceIp", "203.0.113.0/24", {"aws:SourceIp": "198.51.100.1"}, True),
    ("NotIpAddress", "aws:SourceIp", "203.0.113.0/24", {}, True),
    # Multiple values for one key are OR; a negated operator is true only if none match.
    ("StringEquals", "k", ["a", "b"], {"k": "b"}, True),
    ("StringNotEquals", "k", ["a", "b"], {"k": "b"}, False),
    ("StringNotEquals", "k", ["a", "b"], {"k": "c"}, True),
    # Condition key names are case-insensitive.
    ("StringEquals", "AWS:UserName", "bob", {"aws:username": "bob"}, True),
]


@pytest.mark.parametrize("operator,key,values,context,expected", OPERATOR_CASES)
def test_condition_operators(operator, key, values, context, expected):
    assert cond(operator, key, values, context) == (ALLOW if expected else IMPLICIT_DENY)


# --- ...IfExists and Null ------------------------------------------------------------------
# Same page: "...IfExists: If the key is not present, evaluate the condition element as true";
# Null: "true" (the key doesn't exist) or "false" (the key exists).

IF_EXISTS_CASES = [
    ("StringLikeIfExists", "ec2:InstanceType", ["t1.*", "t2.*", "m3.*"], {}, True),
    ("StringLikeIfExists", "ec2:InstanceType", ["t1.*", "t2.*", "m3.*"], {"ec2:InstanceType": "t2.micro"}, True),
    ("StringLikeIfExists", "ec2:InstanceType", ["t1.*", "t2.*", "m3.*"], {"ec2:InstanceType": "c5.large"}, False),
    ("StringNotEqualsIfExists", "k", "a", {}, True),
    ("StringNotEqualsIfExists", "k", "a", {"k": "a"}, False),
    ("DateLessThanIfExists", "aws:TokenIssueTime", "2020-01-01T00:00:00Z", {}, True),
    ("DateLessThanIfExists", "aws:TokenIssueTime", "2020-01-01T00:00:00Z", {"aws:TokenIssueTime": "2021-01-01T00:00:00Z"}, False),
    ("NumericEqualsIfExists", "n", "1", {}, True),
    ("BoolIfExists", "aws:MultiFactorAuthPresent", "true", {}, True),
    ("BoolIfExists", "aws:MultiFactorAuthPresent", "true", {"aws:MultiFactorAuthPresent": "false"}, False),
    ("ArnLikeIfExists", "aws:SourceArn", "arn:aws:sns:*:*:t", {}, True),
    ("Null", "aws:TokenIssueTime", "true", {}, True),
    ("Null", "aws:TokenIssueTime", "true", {"aws:TokenIssueTime": "2020-01-01T00:00:00Z"}, False),
    ("Null", "aws:TokenIssueTime", "false", {"aws:TokenIssueTime": "2020-01-01T00:00:00Z"}, True),
    ("Null", "aws:TokenIssueTime", "false", {}, False),
    ("Null", "sts:TransitiveTagKeys", "false", {"sts:TransitiveTagKeys": []}, False),  # empty list: absent
]


@pytest.mark.parametrize("operator,key,values,context,expected", IF_EXISTS_CASES)
def test_if_exists_and_null(operator, key, values, context, expected):
    assert cond(operator, key, values, context) == (ALLOW if expected else IMPLICIT_DENY)


def test_if_exists_with_a_negated_operator_in_a_deny_still_denies_when_the_tag_is_missing():
    # Same page: "If you are using an "Effect": "Deny" element with a negated condition
    # operator like StringNotEqualsIfExists, the request is still denied even if the tag is
    # missing."
    doc = policy(allow(), deny(Condition={"StringNotEqualsIfExists": {"aws:PrincipalTag/team": "red"}}))
    assert evaluate(Request("s3:GetObject", "*", {}), [doc]) == EXPLICIT_DENY
    assert evaluate(Request("s3:GetObject", "*", {"aws:PrincipalTag/team": "red"}), [doc]) == ALLOW


# --- Set operators -------------------------------------------------------------------------
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_multi-value-conditions.html
# ForAllValues: every request value matches some policy value; ForAnyValue: at least one
# does. "If the key values in the request resolve to an empty data set (for example, an empty
# string), a condition operator modified by ForAllValues returns true, and a condition
# operator modified by ForAnyValue returns false."

ALLOWED_ATTRS = ["PostDateTime", "Message", "Tags"]
SET_CASES = [
    ("ForAllValues:StringLike", ALLOWED_ATTRS, ["PostDateTime", "Message"], True),
    ("ForAllValues:StringLike", ALLOWED_ATTRS, ["PostDateTime", "UserName"], False),  # the doc's table
    ("ForAllValues:StringLike", ALLOWED_ATTRS, [], True),  # empty set
    ("ForAllValues:StringLike", ALLOWED_ATTRS, None, True),  # absent key
    ("ForAllValues:StringLike", ALLOWED_ATTRS, [""], True),  # empty string
    ("ForAnyValue:StringLike", ["ID", "PostDateTime"], ["UserName", "Message", "PostDateTime"], True),
    ("ForAnyValue:StringLike", ["ID", "PostDateTime"], ["UserName"], False),
    ("ForAnyValue:StringLike", ["ID", "PostDateTime"], [], False),
    ("ForAnyValue:StringLike", ["ID", "PostDateTime"], None, False),
    ("ForAllValues:StringEquals", ["Project", "Department"], ["Project"], True),  # session-tags page
    ("ForAllValues:StringEquals", ["Project", "Department"], ["Project", "CostCenter"], False),
    # Negated with a set operator: each request value is tested against all policy values.
    ("ForAllValues:StringNotEquals", ["ID"], ["Message", "Tags"], True),
    ("ForAllValues:StringNotEquals", ["ID"], ["Message", "ID"], False),
    ("ForAnyValue:StringNotEquals", ["ID"], ["Message", "ID"], True),
    ("ForAnyValue:StringNotEquals", ["ID"], ["ID"], False),
    ("ForAnyValue:StringLikeIfExists", ["ID"], None, True),
]


@pytest.mark.parametrize("operator,policy_values,request_values,expected", SET_CASES)
def test_set_operators(operator, policy_values, request_values, expected):
    context = {} if request_values is None else {"dynamodb:requestedAttributes": request_values}
    assert cond(operator, "dynamodb:requestedAttributes", policy_values, context) == (ALLOW if expected else IMPLICIT_DENY)


# --- Several keys and operators: AND --------------------------------------------------------
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html
# ("Condition element evaluation logic": operators AND, keys AND, values of one key OR)


def test_keys_and_operators_are_anded():
    doc = policy(allow(Condition={"StringEquals": {"a": "1", "b": "2"}, "StringLike": {"c": "x*"}}))
    r = lambda ctx: evaluate(Request("s3:GetObject", "*", ctx), [doc])  # noqa: E731
    assert r({"a": "1", "b": "2", "c": "xy"}) == ALLOW
    assert r({"a": "1", "b": "3", "c": "xy"}) == IMPLICIT_DENY
    assert r({"a": "1", "b": "2", "c": "yy"}) == IMPLICIT_DENY
    assert r({"a": "1", "c": "xy"}) == IMPLICIT_DENY


# --- Evaluation logic ----------------------------------------------------------------------
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html
# "By default, all requests are implicitly denied"; "An explicit deny overrides an explicit
# allow", whichever policy holds it.


def test_default_is_implicit_deny_and_deny_overrides_allow():
    req = Request("s3:GetObject", "arn:aws:s3:::b/k")
    assert evaluate(req, []) == IMPLICIT_DENY
    assert evaluate(req, [policy(allow("s3:GetObject"))]) == ALLOW
    assert evaluate(req, [policy(allow("s3:*")), policy(deny("s3:GetObject"))]) == EXPLICIT_DENY
    assert evaluate(req, [policy(allow())], session_policy=policy(allow(), deny("s3:Get*"))) == EXPLICIT_DENY
    assert evaluate(req, [policy(deny("s3:PutObject"), allow())]) == ALLOW


def test_not_action_and_not_resource():
    # reference_policies_elements_notaction.html: NotAction with Deny denies everything else.
    doc = policy(allow(), {"Effect": "Deny", "NotAction": ["iam:*", "sts:GetCallerIdentity"], "Resource": "*"})
    assert evaluate(Request("s3:GetObject", "*"), [doc]) == EXPLICIT_DENY
    assert evaluate(Request("iam:ListRoles", "*"), [doc]) == ALLOW
    # reference_policies_elements_notresource.html
    nr = policy({"Effect": "Allow", "Action": "s3:*", "NotResource": ["arn:aws:s3:::secret", "arn:aws:s3:::secret/*"]})
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::open/k"), [nr]) == ALLOW
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::secret/k"), [nr]) == IMPLICIT_DENY


def test_action_names_are_case_insensitive_and_wildcards_match():
    # reference_policies_elements_action.html: "action names are case insensitive";
    # wildcards * and ? in Action and Resource.
    doc = policy(allow("IAM:*accesskey*", "arn:aws:iam::123456789012:user/*"))
    assert evaluate(Request("iam:CreateAccessKey", "arn:aws:iam::123456789012:user/bob"), [doc]) == ALLOW
    assert evaluate(Request("iam:createaccesskey", "arn:aws:iam::123456789012:user/bob"), [doc]) == ALLOW
    assert evaluate(Request("iam:CreateUser", "arn:aws:iam::123456789012:user/bob"), [doc]) == IMPLICIT_DENY
    assert evaluate(Request("iam:CreateAccessKey", "arn:aws:iam::123456789012:role/bob"), [doc]) == IMPLICIT_DENY
    q = policy(allow("s3:GetObject", "arn:aws:s3:::b/file?.txt"))
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::b/file1.txt"), [q]) == ALLOW
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::b/file10.txt"), [q]) == IMPLICIT_DENY
    # Resource ARNs are case sensitive.
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::B/file1.txt"), [q]) == IMPLICIT_DENY


def test_statement_as_object_and_documents_as_strings():
    doc = json.dumps({"Version": V, "Statement": {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}})
    assert evaluate(Request("sts:AssumeRole", "arn:aws:iam::1:role/r"), [doc]) == ALLOW


# --- Session policies ----------------------------------------------------------------------
# https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session
# "The resulting session's permissions are the intersection of the entity's identity-based
# policies and the session policies."


def test_session_policy_intersects_identity():
    identity = [policy(allow(["s3:*", "iam:ListRoles"]))]
    session = policy(allow(["s3:GetObject", "ec2:*"]))
    assert evaluate(Request("s3:GetObject", "*"), identity, session) == ALLOW
    assert evaluate(Request("s3:PutObject", "*"), identity, session) == IMPLICIT_DENY  # not in session
    assert evaluate(Request("ec2:RunInstances", "*"), identity, session) == IMPLICIT_DENY  # not in identity
    assert decide(Request("s3:PutObject", "*"), identity, session)[1] == "session policy"


# --- Principals in resource-based policies --------------------------------------------------
# reference_policies_elements_principal.html: an account id or arn:aws:iam::<acct>:root means
# the account (whose admins delegate through identity policies); a role ARN; an
# assumed-role session ARN; "*" anyone. reference_policies_evaluation-logic (same account):
# either the identity or the resource policy may allow; a grant to a role ARN is limited by
# the session policy, a grant to a session ARN is not. Cross-account: both must allow.

USER = Principal("111111111111", "arn:aws:iam::111111111111:user/alice")
SESSION = Principal("111111111111", "arn:aws:sts::111111111111:assumed-role/Ops/s1", role_arn="arn:aws:iam::111111111111:role/Ops")
BUCKET = "arn:aws:s3:::bucket-in-111111111111"


def bucket_policy(principal, effect="Allow", key="Principal"):
    return policy({"Effect": effect, key: principal, "Action": "s3:GetObject", "Resource": BUCKET})


def test_resource_policy_principals_same_account():
    req = Request("s3:GetObject", BUCKET)
    acct = dict(resource_account="111111111111")
    # naming the user directly: no identity policy needed
    assert evaluate(req, [], None, bucket_policy({"AWS": USER.arn}), USER, **acct) == ALLOW
    # naming the account: delegates to identity policies
    for root in ("111111111111", "arn:aws:iam::111111111111:root"):
        assert evaluate(req, [], None, bucket_policy({"AWS": root}), USER, **acct) == IMPLICIT_DENY
        assert evaluate(req, [policy(allow())], None, bucket_policy({"AWS": root}), USER, **acct) == ALLOW
    # another principal: the statement does not apply; identity alone still grants
    other = bucket_policy({"AWS": "arn:aws:iam::111111111111:user/bob"})
    assert evaluate(req, [], None, other, USER, **acct) == IMPLICIT_DENY
    assert evaluate(req, [policy(allow())], None, other, USER, **acct) == ALLOW
    # a session: the role ARN and the session ARN both name it
    assert evaluate(req, [], None, bucket_policy({"AWS": SESSION.role_arn}), SESSION, **acct) == ALLOW
    assert evaluate(req, [], None, bucket_policy({"AWS": SESSION.arn}), SESSION, **acct) == ALLOW
    assert evaluate(req, [], None, bucket_policy({"AWS": "arn:aws:sts::111111111111:assumed-role/Ops/s2"}), SESSION, **acct) == IMPLICIT_DENY
    # a session policy limits a grant to the role, not a grant to the session
    narrow = policy(allow("ec2:*"))
    assert evaluate(req, [], narrow, bucket_policy({"AWS": SESSION.role_arn}), SESSION, **acct) == IMPLICIT_DENY
    assert evaluate(req, [], narrow, bucket_policy({"AWS": SESSION.arn}), SESSION, **acct) == ALLOW
    # an explicit deny in the resource policy wins over the identity allow
    assert evaluate(req, [policy(allow())], None, bucket_policy("*", "Deny"), USER, **acct) == EXPLICIT_DENY


def test_resource_policy_cross_account_needs_both():
    req = Request("s3:GetObject", BUCKET)
    outsider = Principal("222222222222", "arn:aws:iam::222222222222:user/carol")
    rp = bucket_policy({"AWS": outsider.arn})
    assert evaluate(req, [], None, rp, outsider, resource_account="111111111111") == IMPLICIT_DENY
    assert evaluate(req, [policy(allow())], None, rp, outsider, resource_account="111111111111") == ALLOW
    assert evaluate(req, [policy(allow())], None, bucket_policy({"AWS": USER.arn}), outsider, resource_account="111111111111") == IMPLICIT_DENY


def test_not_principal_needs_every_layer_listed():
    # reference_policies_elements_notprincipal.html: with Deny, list the account too, or the
    # deny still applies to the principal.
    req = Request("s3:GetObject", BUCKET)
    acct = dict(resource_account="111111111111")
    only_user = bucket_policy({"AWS": [USER.arn]}, "Deny", "NotPrincipal")
    assert evaluate(req, [policy(allow())], None, only_user, USER, **acct) == EXPLICIT_DENY
    both = bucket_policy({"AWS": [USER.arn, "arn:aws:iam::111111111111:root"]}, "Deny", "NotPrincipal")
    assert evaluate(req, [policy(allow())], None, both, USER, **acct) == ALLOW
    session_all = bucket_policy({"AWS": [SESSION.arn, SESSION.role_arn, "111111111111"]}, "Deny", "NotPrincipal")
    assert evaluate(req, [policy(allow())], None, session_all, SESSION, **acct) == ALLOW
    assert evaluate(req, [policy(allow())], None, session_all, USER, **acct) == EXPLICIT_DENY


# --- Trust policies --------------------------------------------------------------------------


ROLE = "arn:aws:iam::111111111111:role/Target"


def trust_policy(principal, action="sts:AssumeRole", condition=None):
    st = {"Effect": "Allow", "Principal": principal, "Action": action}
    if condition:
        st["Condition"] = condition
    return policy(st)


def assume(identity, trust, who=USER, context=None, action="sts:AssumeRole", **kw):
    return evaluate(Request(action, ROLE, context or {}), identity, None, trust, who, trust_policy=True, **kw)


def test_trust_policy_same_account_direct_vs_account():
    assert assume([], trust_policy({"AWS": USER.arn})) == ALLOW
    assert assume([], trust_policy({"AWS": "arn:aws:iam::111111111111:root"})) == IMPLICIT_DENY
    assert assume([policy(allow("sts:AssumeRole", ROLE))], trust_policy({"AWS": "111111111111"})) == ALLOW
    assert assume([], trust_policy({"AWS": "*"})) == IMPLICIT_DENY
    assert assume([policy(allow("sts:AssumeRole"))], trust_policy("*")) == ALLOW
    # The trust policy must allow, whatever the identity policies say.
    assert assume([policy(allow())], trust_policy({"AWS": "arn:aws:iam::111111111111:user/bob"})) == IMPLICIT_DENY
    assert assume([policy(allow())], trust_policy({"Service": "ec2.amazonaws.com"})) == IMPLICIT_DENY
    # The identity Resource is the role.
    other_role = policy(allow("sts:AssumeRole", "arn:aws:iam::111111111111:role/Other"))
    assert assume([other_role], trust_policy({"AWS": "111111111111"})) == IMPLICIT_DENY


def test_trust_policy_cross_account_needs_identity():
    outsider = Principal("222222222222", "arn:aws:iam::222222222222:user/broker")
    t = trust_policy({"AWS": outsider.arn}, condition={"StringEquals": {"sts:ExternalId": "xid"}})
    assert assume([], t, outsider, {"sts:ExternalId": "xid"}) == IMPLICIT_DENY
    assert assume([policy(allow())], t, outsider, {"sts:ExternalId": "xid"}) == ALLOW
    assert assume([policy(allow())], t, outsider, {"sts:ExternalId": "nope"}) == IMPLICIT_DENY
    assert assume([policy(allow())], t, outsider, {}) == IMPLICIT_DENY


def test_trust_policy_role_session_callers():
    by_role = trust_policy({"AWS": SESSION.role_arn})
    by_session = trust_policy({"AWS": SESSION.arn})
    assert assume([], by_role, SESSION) == ALLOW
    assert assume([], by_session, SESSION) == ALLOW
    assert assume([], trust_policy({"AWS": "arn:aws:sts::111111111111:assumed-role/Ops/other"}), SESSION) == IMPLICIT_DENY
    # SetSourceIdentity while chaining: the calling role's policies must allow it too.
    by_role_si = trust_policy({"AWS": SESSION.role_arn}, ["sts:AssumeRole", "sts:SetSourceIdentity"])
    assert assume([], by_role, SESSION, action="sts:SetSourceIdentity") == IMPLICIT_DENY  # not in the trust
    assert assume([], by_role_si, SESSION, action="sts:SetSourceIdentity") == ALLOW
    assert assume([], by_role_si, SESSION, action="sts:SetSourceIdentity", direct_grant=False) == IMPLICIT_DENY
    assert assume([policy(allow("sts:SetSourceIdentity"))], by_role_si, SESSION, action="sts:SetSourceIdentity", direct_grant=False) == ALLOW


# --- Policy variables ------------------------------------------------------------------------
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html


def test_policy_variables():
    home = policy(allow("s3:*", ["arn:aws:s3:::b/home/${aws:username}", "arn:aws:s3:::b/home/${aws:username}/*"]))
    ctx = {"aws:username": "bob"}
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::b/home/bob/x", ctx), [home]) == ALLOW
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::b/home/eve/x", ctx), [home]) == IMPLICIT_DENY
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::b/home/bob/x", {}), [home]) == IMPLICIT_DENY  # unresolved
    # Only in Version 2012-10-17 policies; elsewhere the text is literal.
    old = policy(allow("s3:*", "arn:aws:s3:::b/home/${aws:username}/*"), version="2008-10-17")
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::b/home/bob/x", ctx), [old]) == IMPLICIT_DENY
    # In conditions, with a default, and the escapes ${*} ${?} ${$}.
    si = policy(allow(Condition={"StringLike": {"sts:SourceIdentity": "${aws:username}"}}))
    assert evaluate(Request("sts:SetSourceIdentity", "*", {"aws:username": "bob", "sts:SourceIdentity": "bob"}), [si]) == ALLOW
    assert evaluate(Request("sts:SetSourceIdentity", "*", {"aws:username": "bob", "sts:SourceIdentity": "eve"}), [si]) == IMPLICIT_DENY
    dflt = policy(allow(Condition={"StringEquals": {"k": "${aws:PrincipalTag/team, 'none'}"}}))
    assert evaluate(Request("x:Y", "*", {"k": "none"}), [dflt]) == ALLOW
    star = policy(allow(Condition={"StringEquals": {"k": "a${*}"}}))
    assert evaluate(Request("x:Y", "*", {"k": "a*"}), [star]) == ALLOW
    assert evaluate(Request("x:Y", "*", {"k": "ab"}), [star]) == IMPLICIT_DENY
    lit = policy(allow("s3:*", "arn:aws:s3:::b/${*}"))
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::b/*"), [lit]) == ALLOW
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::b/x"), [lit]) == IMPLICIT_DENY
    # A substituted value is literal, even if it holds a wildcard character.
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::b/home/x/y", {"aws:username": "*"}), [home]) == IMPLICIT_DENY


def test_parse_time_forms():
    assert parse_time("2020-01-01T00:00:00Z") == parse_time("1577836800") == parse_time("2020-01-01")
    assert parse_time("2020-01-01T00:00:00.5Z") > parse_time("2020-01-01T00:00:00Z")
    assert parse_time("2026-01-01T00:00:00.000000001Z") > parse_time("2026-01-01T00:00:00Z")  # nanoseconds kept
    assert parse_time("not a date") is None


# --- The broker's own shapes -----------------------------------------------------------------

ROLE_ID = "AROAEXAMPLEROLEID0001"
ALLOW_WORK = policy(allow(["iam:ListRoles", "iam:GetRole"]))


def session_ctx(name, issued="2025-06-01T00:00:00Z", **extra):
    return {"aws:userid": f"{ROLE_ID}:{name}", "aws:TokenIssueTime": issued, "aws:PrincipalType": "AssumedRole", **extra}


def test_broker_a_revoked_session_ids():
    revocations = policy(deny(Condition={"StringLike": {"aws:userid": ["*:cib-AAAA", "*:cib-BBBB"]}}))
    assert evaluate(Request("iam:ListRoles", "*", session_ctx("cib-AAAA")), [ALLOW_WORK, revocations]) == EXPLICIT_DENY
    assert evaluate(Request("iam:ListRoles", "*", session_ctx("cib-BBBB")), [ALLOW_WORK, revocations]) == EXPLICIT_DENY
    assert evaluate(Request("iam:ListRoles", "*", session_ctx("cib-CCCC")), [ALLOW_WORK, revocations]) == ALLOW


def test_broker_b_console_cut_by_issue_time():
    cut = policy(
        deny(Condition={"StringLike": {"aws:userid": "*:alice"}, "DateLessThan": {"aws:TokenIssueTime": "2026-01-01T00:00:00Z"}})
    )
    before = session_ctx("alice", "2025-12-31T23:59:59Z")
    after = session_ctx("alice", "2026-01-01T00:00:01Z")
    assert evaluate(Request("iam:ListRoles", "*", before), [ALLOW_WORK, cut]) == EXPLICIT_DENY
    assert evaluate(Request("iam:ListRoles", "*", after), [ALLOW_WORK, cut]) == ALLOW
    assert evaluate(Request("iam:ListRoles", "*", session_ctx("bob", "2025-12-31T23:59:59Z")), [ALLOW_WORK, cut]) == ALLOW
    # The broker writes RFC 3339 with sub-second digits.
    fine = policy(deny(Condition={"StringLike": {"aws:userid": "*:alice"}, "DateLessThan": {"aws:TokenIssueTime": "2026-01-01T00:00:00.5Z"}}))
    assert evaluate(Request("iam:ListRoles", "*", session_ctx("alice", "2026-01-01T00:00:00.4Z")), [ALLOW_WORK, fine]) == EXPLICIT_DENY
    assert evaluate(Request("iam:ListRoles", "*", session_ctx("alice", "2026-01-01T00:00:00.6Z")), [ALLOW_WORK, fine]) == ALLOW


def test_broker_c_cut_spares_a_live_session():
    t = "2026-01-01T00:00:00Z"
    cut = policy(
        deny(
            Condition={
                "StringLike": {"aws:userid": "*:cib-*"},
                "DateLessThan": {"aws:TokenIssueTime": t},
                "StringNotLike": {"aws:userid": ["*:cib-LIVE1"]},
            }
        )
    )
    old = "2025-12-31T00:00:00Z"
    assert evaluate(Request("iam:ListRoles", "*", session_ctx("cib-LIVE1", old)), [ALLOW_WORK, cut]) == ALLOW
    assert evaluate(Request("iam:ListRoles", "*", session_ctx("cib-OTHER", old)), [ALLOW_WORK, cut]) == EXPLICIT_DENY
    assert evaluate(Request("iam:ListRoles", "*", session_ctx("cib-OTHER", "2026-02-01T00:00:00Z")), [ALLOW_WORK, cut]) == ALLOW
    assert evaluate(Request("iam:ListRoles", "*", session_ctx("console", old)), [ALLOW_WORK, cut]) == ALLOW


JIT_USER = Principal("210000000001", "arn:aws:iam::210000000001:user/alice.example")
JIT_ROLE = "arn:aws:iam::210000000001:role/OnCall"
JIT_TRUST = policy(
    {
        "Sid": "CloudIamBrokerJit",
        "Effect": "Allow",
        "Principal": {"AWS": JIT_USER.arn},
        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"],
        "Condition": {"StringEquals": {"sts:SourceIdentity": "alice@example.com"}, "StringLike": {"sts:RoleSessionName": "cib-*"}},
    },
    {
        "Sid": "CloudIamBrokerConsoleSwitch",
        "Effect": "Allow",
        "Principal": {"AWS": JIT_USER.arn},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:RoleSessionName": "alice.example"}},
    },
)
SESSION_DENY = policy(
    {"Effect": "Deny", "NotAction": ["sts:GetCallerIdentity"], "Resource": "*"},
    deny("sts:AssumeRole", Condition={"StringNotLike": {"sts:RoleSessionName": "cib-*"}}),
)
JIT_ALLOW = policy(allow(["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"], [JIT_ROLE]))


def jit(action, ctx, identity=(JIT_ALLOW,)):
    return evaluate(Request(action, JIT_ROLE, ctx), list(identity), None, JIT_TRUST, JIT_USER, trust_policy=True)


def test_broker_d_trust_statements():
    good = {"sts:RoleSessionName": "cib-01J", "sts:SourceIdentity": "alice@example.com"}
    for action in ("sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"):
        assert jit(action, good) == ALLOW
    assert jit("sts:AssumeRole", {"sts:RoleSessionName": "cib-01J"}) == IMPLICIT_DENY  # no source identity
    assert jit("sts:AssumeRole", {**good, "sts:SourceIdentity": "eve@example.com"}) == IMPLICIT_DENY
    assert jit("sts:AssumeRole", {**good, "sts:RoleSessionName": "other"}) == IMPLICIT_DENY
    console = {"sts:RoleSessionName": "alice.example"}
    assert jit("sts:AssumeRole", console) == ALLOW
    assert jit("sts:SetSourceIdentity", {**console, "sts:SourceIdentity": "alice@example.com"}) == IMPLICIT_DENY
    assert jit("sts:AssumeRole", {"sts:RoleSessionName": "bob"}) == IMPLICIT_DENY


def test_broker_e_user_session_deny():
    identity = (SESSION_DENY, JIT_ALLOW)
    good = {"sts:RoleSessionName": "cib-01J", "sts:SourceIdentity": "alice@example.com"}
    # NotAction [GetCallerIdentity]: every other action is denied, sts:AssumeRole included.
    assert jit("sts:AssumeRole", good, identity) == EXPLICIT_DENY
    assert evaluate(Request("sts:GetCallerIdentity", "*"), [SESSION_DENY]) == IMPLICIT_DENY  # not denied, not allowed
    assert evaluate(Request("iam:ListRoles", "*"), [SESSION_DENY, policy(allow())]) == EXPLICIT_DENY
    # The broker's real session deny lets its own AssumeRole through, named cib-* only.
    real = policy(
        {"Effect": "Deny", "NotAction": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession", "sts:GetCallerIdentity"], "Resource": "*"},
        deny("sts:AssumeRole", Condition={"StringNotLike": {"sts:RoleSessionName": "cib-*"}}),
    )
    assert jit("sts:AssumeRole", good, (real, JIT_ALLOW)) == ALLOW
    assert jit("sts:TagSession", good, (real, JIT_ALLOW)) == ALLOW
    assert jit("sts:AssumeRole", {"sts:RoleSessionName": "alice.example"}, (real, JIT_ALLOW)) == EXPLICIT_DENY
    assert evaluate(Request("iam:ListRoles", "*"), [real, policy(allow())]) == EXPLICIT_DENY


def test_broker_jit_session_policy_blocks_chaining():
    session_policy = policy(
        {"Sid": "RolePermissions", "Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Sid": "NoRoleChaining", "Effect": "Deny", "Action": ["sts:AssumeRole", "sts:GetSessionToken"], "Resource": "*"},
    )
    role_policies = [policy(allow())]
    assert evaluate(Request("iam:ListRoles", "*"), role_policies, session_policy) == ALLOW
    other = "arn:aws:iam::111111111111:role/Next"
    assert (
        evaluate(Request("sts:AssumeRole", other), role_policies, session_policy, trust_policy({"AWS": SESSION.arn}), SESSION, trust_policy=True)
        == EXPLICIT_DENY
    )
