"""policy_eval against cases taken from AWS's documentation, and the broker's own shapes."""

from __future__ import annotations

import json

import pytest

from cib_local_aws.policy_conditions import condition_syntax_error, parse_operator
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


# --- A multivalued key without a set qualifier -----------------------------------------------
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
# "Multivalued condition context keys can have multiple values in the request context. [...]
# Therefore, aws:TagKeys is a multivalued context key. Multivalued context keys require a
# condition set operator." Access Analyzer reports the lack of one as an error
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-policy-checks.html,
# "Error – Missing qualifier": "The request context key ${key} has multiple values. Use the
# ForAllValues or ForAnyValue condition key qualifiers in your policy."), yet IAM stores such a
# policy (an AWS managed policy holds one, same page), and what it then decides is not
# documented: any value, every value, or none. Here an Allow applies only if every reading
# matches (so never, while the key holds two values or more), a Deny if any reading matches
# (unless no value can match, a negated operator unless every value matches). "The difference
# [...] depends on the number of values in the request context": a key holding one value is
# compared as a single-valued one.

TAGS = "aws:TagKeys"
MULTI_CASES = [
    # operator, policy values, request values, Allow's decision, Deny's decision
    ("StringEquals", ["environment", "cost-center"], ["environment", "cost-center"], IMPLICIT_DENY, EXPLICIT_DENY),
    ("StringEquals", ["environment", "cost-center"], ["environment", "dept"], IMPLICIT_DENY, EXPLICIT_DENY),
    ("StringEquals", ["environment", "cost-center"], ["dept", "owner"], IMPLICIT_DENY, ALLOW),  # nothing can match
    ("StringEquals", ["environment", "cost-center"], ["environment"], ALLOW, EXPLICIT_DENY),  # one value: single-valued
    ("StringEquals", ["environment", "cost-center"], ["dept"], IMPLICIT_DENY, ALLOW),
    ("StringLike", ["env*"], ["environment", "envoy"], IMPLICIT_DENY, EXPLICIT_DENY),
    ("StringNotEquals", ["environment"], ["environment", "dept"], IMPLICIT_DENY, EXPLICIT_DENY),  # dept is not equal
    ("StringNotEquals", ["environment"], ["dept", "owner"], IMPLICIT_DENY, EXPLICIT_DENY),
    ("StringNotEquals", ["environment", "dept"], ["environment", "dept"], IMPLICIT_DENY, ALLOW),  # every value matches
    ("StringNotEquals", ["environment"], ["environment"], IMPLICIT_DENY, ALLOW),
    ("StringNotEquals", ["environment"], ["dept"], ALLOW, EXPLICIT_DENY),
    ("StringNotLike", ["key1*"], ["key1:legal", "key2:audit"], IMPLICIT_DENY, EXPLICIT_DENY),
    ("StringNotLike", ["key1*"], ["key1:hr", "key1:personnel"], IMPLICIT_DENY, ALLOW),
    ("StringNotEqualsIgnoreCase", ["ENVIRONMENT"], ["environment", "Dept"], IMPLICIT_DENY, EXPLICIT_DENY),
    ("StringNotEqualsIfExists", ["environment"], ["environment", "dept"], IMPLICIT_DENY, EXPLICIT_DENY),
    ("StringNotEquals", ["environment"], None, ALLOW, EXPLICIT_DENY),  # absent: negated is true
    ("ArnNotLike", ["arn:aws:iam::*:role/admin"], ["arn:aws:iam::111122223333:role/admin", "arn:aws:iam::111122223333:role/dev"], IMPLICIT_DENY, EXPLICIT_DENY),
    ("ArnNotLike", ["arn:aws:iam::*:role/*"], ["arn:aws:iam::111122223333:role/admin", "arn:aws:iam::111122223333:role/dev"], IMPLICIT_DENY, ALLOW),
    ("NumericNotEquals", ["1"], ["1", "2"], IMPLICIT_DENY, EXPLICIT_DENY),
    ("NumericNotEquals", ["1", "2"], ["1", "2.0"], IMPLICIT_DENY, ALLOW),
    ("DateNotEquals", ["2020-01-01T00:00:00Z"], ["2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"], IMPLICIT_DENY, EXPLICIT_DENY),
    # With a qualifier the documented set semantics apply (multivalued-context-key examples:
    # "ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"} matches key2:audit only).
    ("ForAllValues:StringNotLike", ["key1*"], ["key1:legal"], IMPLICIT_DENY, ALLOW),
    ("ForAllValues:StringNotLike", ["key1*"], ["key1:hr", "key1:personnel"], IMPLICIT_DENY, ALLOW),
    ("ForAllValues:StringNotLike", ["key1*"], ["key2:audit"], ALLOW, EXPLICIT_DENY),
    ("ForAllValues:StringNotLike", ["key1*"], None, ALLOW, EXPLICIT_DENY),
    ("ForAnyValue:StringNotEquals", ["environment"], ["environment", "dept"], ALLOW, EXPLICIT_DENY),
    ("ForAllValues:StringNotEquals", ["environment"], ["environment", "dept"], IMPLICIT_DENY, ALLOW),
]


@pytest.mark.parametrize("operator,values,request_values,allow_decision,deny_decision", MULTI_CASES)
def test_multivalued_keys_without_a_set_qualifier(operator, values, request_values, allow_decision, deny_decision):
    context = {} if request_values is None else {TAGS: request_values}
    req = Request("iam:TagRole", "arn:aws:iam::111122223333:role/r", context)
    assert evaluate(req, [policy(allow(Condition={operator: {TAGS: values}}))]) == allow_decision
    assert evaluate(req, [policy(allow(), deny(Condition={operator: {TAGS: values}}))]) == deny_decision


# --- Operators AWS does not define -------------------------------------------------------------
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html:
# condition_type_string "Identifies the type of condition being tested [...] For a complete list
# of condition types, see IAM JSON policy elements: Condition operators"; that page: "You can add
# IfExists to the end of any condition operator name except the Null condition operator". IAM
# answers a Condition naming no operator with MalformedPolicyDocument "Syntax errors in policy."
# (aws-cloudformation/cfn-lint#3751); `iam_quotas` and `sts_sessions` refuse such policies on
# every write (tests/test_iam_quotas.py). One that reaches the evaluator anyway decides nothing
# certain: an Allow does not apply, a Deny does.


@pytest.mark.parametrize(
    "name,parsed",
    [
        ("StringEquals", (None, "stringequals", False)),
        ("ForAllValues:StringLikeIfExists", ("forallvalues", "stringlike", True)),
        ("ForAnyValue:ArnNotLike", ("foranyvalue", "arnnotlike", False)),
        ("BinaryEqualsIfExists", (None, "binaryequals", True)),
        ("Null", (None, "null", False)),
        ("StringEqualsFoo", None),
        ("StringEqual", None),
        ("stringequals", None),  # spelt as AWS's pages spell it
        ("NullIfExists", None),  # "except the Null condition operator"
        ("IfExists", None),
        ("StringEqualsIfExistsIfExists", None),
        ("ForSomeValues:StringEquals", None),
        ("forallvalues:StringEquals", None),
        ("ForAllValues:", None),
        ("servicecatalog:accountLevel", None),  # cfn-lint#3751: a key where the operator goes
        ("", None),
    ],
)
def test_condition_operators_aws_defines(name, parsed):
    assert parse_operator(name) == parsed


@pytest.mark.parametrize(
    "statement,malformed",
    [
        ({"Effect": "Allow", "Action": "*", "Resource": "*"}, False),
        (allow(Condition={"StringEquals": {"k": "v"}, "ForAnyValue:StringLike": {"aws:TagKeys": ["a*"]}, "Null": {"k": "true"}}), False),
        (allow(Condition={}), False),
        (allow(Condition={"StringEqualsFoo": {"k": "v"}}), True),
        (allow(Condition={"StringEqualsFoo": {}}), True),  # even with no keys
        (allow(Condition={"NullIfExists": {"k": "true"}}), True),
        (allow(Condition={"servicecatalog:accountLevel": "self"}), True),  # cfn-lint#3751's template
        (allow(Condition={"StringEquals": "k"}), True),
        (allow(Condition=["StringEquals"]), True),
    ],
)
def test_policies_with_conditions_aws_cannot_read(statement, malformed):
    assert condition_syntax_error(json.dumps(policy(statement))) is malformed
    assert condition_syntax_error(policy(statement)) is malformed
    assert condition_syntax_error(policy({"Effect": "Allow", "Action": "*", "Resource": "*"}, statement)) is malformed
    assert condition_syntax_error({"Version": V, "Statement": statement}) is malformed  # a single statement


def test_documents_that_are_not_policies_are_not_judged_for_conditions():
    assert condition_syntax_error("not json") is False
    assert condition_syntax_error("[]") is False
    assert condition_syntax_error(json.dumps({"Version": V})) is False


@pytest.mark.parametrize("operator", ["StringEqualsFoo", "stringequals", "NullIfExists", "ForSomeValues:StringEquals"])
def test_an_operator_aws_does_not_define_grants_nothing_and_denies(operator):
    for context in ({}, {"k": "v"}, {"k": "other"}):
        req = Request("s3:GetObject", "arn:aws:s3:::b/k", context)
        assert evaluate(req, [policy(allow(Condition={operator: {"k": "v"}}))]) == IMPLICIT_DENY
        assert evaluate(req, [policy(allow(), deny(Condition={operator: {"k": "v"}}))]) == EXPLICIT_DENY
    req = Request("s3:GetObject", "arn:aws:s3:::b/k", {})
    assert evaluate(req, [policy(allow(Condition={operator: {}}))]) == IMPLICIT_DENY  # no keys: still unknown
    assert evaluate(req, [policy(allow(), deny(Condition={"StringEquals": {"k": "v"}, operator: {"k": "v"}}))]) == ALLOW  # a known operator is false
    assert evaluate(req, [policy(allow(Condition="StringEquals"))]) == IMPLICIT_DENY
    assert evaluate(req, [policy(allow(), deny(Condition={"StringEquals": ["k"]}))]) == EXPLICIT_DENY


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


# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html
# "NotAction with Allow": "The following example allows users to access all of the Amazon S3
# actions that can be performed on any S3 resource except for deleting a bucket. This does not
# allow users to use the ListAllMyBuckets S3 API operation, because that action requires the
# "*" resource. This policy also does not allow actions in other services":
#     "Effect": "Allow", "NotAction": "s3:DeleteBucket", "Resource": "arn:aws:s3:::*"
# and "The following example allows users to access every action in every AWS service except
# for IAM": "Effect": "Allow", "NotAction": "iam:*", "Resource": "*".

NOT_ACTION_ALLOW_CASES = [
    ("s3:DeleteBucket", "arn:aws:s3:::*", "s3:GetObject", "arn:aws:s3:::bucket/key", ALLOW),
    ("s3:DeleteBucket", "arn:aws:s3:::*", "s3:CreateBucket", "arn:aws:s3:::bucket", ALLOW),
    ("s3:DeleteBucket", "arn:aws:s3:::*", "s3:DeleteBucket", "arn:aws:s3:::bucket", IMPLICIT_DENY),
    ("s3:DeleteBucket", "arn:aws:s3:::*", "s3:ListAllMyBuckets", "*", IMPLICIT_DENY),  # needs "*"
    ("s3:DeleteBucket", "arn:aws:s3:::*", "iam:ListRoles", "*", IMPLICIT_DENY),  # other services
    ("s3:DeleteBucket", "arn:aws:s3:::*", "ec2:TerminateInstances", "arn:aws:ec2:us-east-1:111122223333:instance/i-1", IMPLICIT_DENY),
    ("iam:*", "*", "s3:GetObject", "arn:aws:s3:::bucket/key", ALLOW),
    ("iam:*", "*", "ec2:RunInstances", "*", ALLOW),
    ("iam:*", "*", "iam:CreateUser", "arn:aws:iam::111122223333:user/bob", IMPLICIT_DENY),
    ("iam:*", "*", "IAM:CreateAccessKey", "*", IMPLICIT_DENY),  # action names ignore case
]


@pytest.mark.parametrize("not_action,resource,action,target,expected", NOT_ACTION_ALLOW_CASES)
def test_allow_with_not_action(not_action, resource, action, target, expected):
    doc = policy({"Effect": "Allow", "NotAction": not_action, "Resource": resource})
    assert evaluate(Request(action, target), [doc]) == expected


def test_deny_with_not_action_unless_mfa():
    # Same page, "NotAction with Deny": "denies access to non-IAM actions if the user is not
    # signed in using MFA. If the user is signed in with MFA, then the "Condition" test fails
    # and the final "Deny" statement has no effect."
    mfa = policy({"Sid": "DenyAllUsersNotUsingMFA", "Effect": "Deny", "NotAction": "iam:*", "Resource": "*", "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}})
    everything = policy(allow())
    assert evaluate(Request("s3:GetObject", "*", {}), [everything, mfa]) == EXPLICIT_DENY  # long-term keys: no key
    assert evaluate(Request("s3:GetObject", "*", {"aws:MultiFactorAuthPresent": "false"}), [everything, mfa]) == EXPLICIT_DENY
    assert evaluate(Request("s3:GetObject", "*", {"aws:MultiFactorAuthPresent": "true"}), [everything, mfa]) == ALLOW
    assert evaluate(Request("iam:ListRoles", "*", {}), [everything, mfa]) == ALLOW
    # "this would not grant the user access to any actions"
    assert evaluate(Request("iam:ListRoles", "*", {}), [mfa]) == IMPLICIT_DENY


# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notresource.html
# "Members of HRPayroll should not be allowed to access any Amazon S3 resources except the
# Payroll folder in the HRBucket bucket. The following policy explicitly denies access to all
# Amazon S3 resources other than the listed resources. Note, however, that this policy does not
# grant the user access to any resources":
#     {"Effect": "Deny", "Action": "s3:*",
#      "NotResource": ["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"]}
# "users are automatically denied access to new folders unless you add the folder names to the
# NotResource element".

HR_PAYROLL = policy({"Effect": "Deny", "Action": "s3:*", "NotResource": ["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"]})
NOT_RESOURCE_DENY_CASES = [
    ("s3:GetObject", "arn:aws:s3:::HRBucket/Payroll/2024.csv", ALLOW),
    ("s3:ListBucket", "arn:aws:s3:::HRBucket/Payroll", ALLOW),
    ("s3:GetObject", "arn:aws:s3:::HRBucket/Recruiting/cv.pdf", EXPLICIT_DENY),
    ("s3:GetObject", "arn:aws:s3:::HRBucket/NewFolder/x", EXPLICIT_DENY),  # new folders too
    ("s3:ListBucket", "arn:aws:s3:::HRBucket", EXPLICIT_DENY),  # the bucket itself is not listed
    ("s3:GetObject", "arn:aws:s3:::OtherBucket/Payroll/x", EXPLICIT_DENY),
    ("s3:GetObject", "arn:aws:s3:::HRBucket/payroll/x", EXPLICIT_DENY),  # resource ARNs are case sensitive
    ("s3:ListAllMyBuckets", "*", EXPLICIT_DENY),
    ("iam:ListRoles", "*", ALLOW),  # "the policy affects only Amazon S3 actions"
]


@pytest.mark.parametrize("action,resource,expected", NOT_RESOURCE_DENY_CASES)
def test_deny_with_not_resource(action, resource, expected):
    assert evaluate(Request(action, resource), [policy(allow()), HR_PAYROLL]) == expected
    assert evaluate(Request(action, resource), [HR_PAYROLL]) in (IMPLICIT_DENY, EXPLICIT_DENY)  # grants nothing


def test_deny_with_not_resource_is_stricter_than_the_page_for_other_services():
    # Same page: "If the action also included Amazon EC2 actions, then the policy would not deny
    # access to any EC2 resources." Here a Deny's NotResource excludes only what it lists, so an
    # EC2 instance (not listed) is denied: stricter than AWS, never more lenient.
    doc = policy({"Effect": "Deny", "Action": ["s3:*", "ec2:*"], "NotResource": ["arn:aws:s3:::HRBucket/Payroll/*"]})
    assert evaluate(Request("ec2:StartInstances", "arn:aws:ec2:us-east-1:111122223333:instance/i-1"), [policy(allow()), doc]) == EXPLICIT_DENY


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


def test_trust_of_an_issued_external_id_lets_in_the_brokers_roles_only():
    # functions/accounts/src/dto.rs `external_id_out`: the broker's account root as principal
    # lets in every principal there whose own policies allow sts:AssumeRole; the ArnLike on
    # aws:PrincipalArn (for a role session, the role's ARN, path included) keeps only the broker's.
    broker = "222222222222"
    own = f"arn:aws:iam::{broker}:role/cib-stack/cib-stack-AccountsFunctionRole-AB12"
    t = trust_policy(
        {"AWS": f"arn:aws:iam::{broker}:root"},
        condition={
            "StringEquals": {"sts:ExternalId": "xid"},
            "ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{broker}:role/cib-stack/*"},
        },
    )
    everything = [policy(allow())]

    def ctx(principal_arn, external_id="xid"):
        return {"sts:ExternalId": external_id, "aws:PrincipalArn": principal_arn}

    function = Principal(broker, f"arn:aws:sts::{broker}:assumed-role/cib-stack-AccountsFunctionRole-AB12/fn", role_arn=own)
    assert assume(everything, t, function, ctx(own)) == ALLOW
    assert assume(everything, t, function, ctx(own, "other")) == IMPLICIT_DENY
    other_role = f"arn:aws:iam::{broker}:role/Admin"
    admin_session = Principal(broker, f"arn:aws:sts::{broker}:assumed-role/Admin/me", role_arn=other_role)
    assert assume(everything, t, admin_session, ctx(other_role)) == IMPLICIT_DENY
    admin_user = Principal(broker, f"arn:aws:iam::{broker}:user/admin")
    assert assume(everything, t, admin_user, ctx(admin_user.arn)) == IMPLICIT_DENY
    # The same name outside the path is another role.
    outside = f"arn:aws:iam::{broker}:role/cib-stack-AccountsFunctionRole-AB12"
    assert assume(everything, t, Principal(broker, "arn:aws:sts::222222222222:assumed-role/x/fn", role_arn=outside), ctx(outside)) == IMPLICIT_DENY


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


# Same page, "Policy variables with no value": "When policy variables reference a condition
# context key that has no value or is not present in an authorization context for a request,
# the value is effectively null. [...] When you use a variable with no value in the condition
# element of an IAM policy, IAM JSON policy elements: Condition operators like StringEquals or
# StringLike do not match, and the policy statement does not take effect. Inverted condition
# operators like StringNotEquals or StringNotLike do match against a null value [...] Access is
# explicitly denied when aws:principaltag/Team is not set. If a variable that has no value in
# the authorization context is used as part of the Resource or NotResource element of a policy,
# the resource that includes a policy variable with no value will not match any resource." Its
# example:
#     {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/*",
#      "Condition": {"StringNotEquals": {"s3:ExistingObjectTag/Team": "${aws:PrincipalTag/Team}"}}}
# The same page also says "If AWS cannot resolve a variable this might cause the entire statement
# to be invalid" and, of keys "not present" (aws:username for an assumed role, in "Principal key
# values"), "any attempt to match it fails and causes the statement to be invalid". A Deny is
# read as the example says; an Allow holding a variable with no value does not apply, so the
# local AWS never grants what AWS might not.

TEAM_DENY = policy(
    allow(),
    deny("s3:GetObject", "arn:aws:s3:::amzn-s3-demo-bucket/*", Condition={"StringNotEquals": {"s3:ExistingObjectTag/Team": "${aws:PrincipalTag/Team}"}}),
)
OBJECT = "arn:aws:s3:::amzn-s3-demo-bucket/report.pdf"


@pytest.mark.parametrize(
    "context,expected",
    [
        ({"s3:ExistingObjectTag/Team": "red"}, EXPLICIT_DENY),  # "denied when aws:principaltag/Team is not set"
        ({}, EXPLICIT_DENY),  # neither: the object tag is absent, a negated operator is true
        ({"aws:PrincipalTag/Team": "red", "s3:ExistingObjectTag/Team": "red"}, ALLOW),
        ({"aws:principaltag/team": "red", "s3:ExistingObjectTag/Team": "red"}, ALLOW),  # key names ignore case
        ({"aws:PrincipalTag/Team": "red", "s3:ExistingObjectTag/Team": "blue"}, EXPLICIT_DENY),
        ({"aws:PrincipalTag/Team": "red"}, EXPLICIT_DENY),
    ],
)
def test_a_variable_with_no_value_in_a_negated_condition_of_a_deny(context, expected):
    assert evaluate(Request("s3:GetObject", OBJECT, context), [TEAM_DENY]) == expected


ROLE_SESSION_CTX = {"aws:userid": "AROAEXAMPLE:alice", "aws:PrincipalType": "AssumedRole"}  # no aws:username
USER_CTX = {"aws:username": "alice", "aws:userid": "AIDAEXAMPLE", "aws:PrincipalType": "User"}


def test_a_variable_with_no_value_in_a_negated_condition_of_an_allow():
    doc = policy(allow("s3:GetObject", Condition={"StringNotEquals": {"s3:ExistingObjectTag/Team": "${aws:PrincipalTag/Team}"}}))
    assert evaluate(Request("s3:GetObject", OBJECT, {"aws:PrincipalTag/Team": "red", "s3:ExistingObjectTag/Team": "blue"}), [doc]) == ALLOW
    assert evaluate(Request("s3:GetObject", OBJECT, {"aws:PrincipalTag/Team": "red", "s3:ExistingObjectTag/Team": "red"}), [doc]) == IMPLICIT_DENY
    # No Team tag on the principal: "do match against a null value", or "the statement [is]
    # invalid": not granted here.
    assert evaluate(Request("s3:GetObject", OBJECT, {"s3:ExistingObjectTag/Team": "blue"}), [doc]) == IMPLICIT_DENY
    assert evaluate(Request("s3:GetObject", OBJECT, {}), [doc]) == IMPLICIT_DENY
    # ${aws:username} is "(not present)" for an assumed role (the page's principal table).
    not_mine = policy(allow("iam:*", Condition={"StringNotLike": {"aws:PrincipalArn": "*:user/${aws:username}"}}))
    assert evaluate(Request("iam:ListRoles", "*", {**USER_CTX, "aws:PrincipalArn": "arn:aws:iam::1:user/alice"}), [not_mine]) == IMPLICIT_DENY
    assert evaluate(Request("iam:ListRoles", "*", {**USER_CTX, "aws:PrincipalArn": "arn:aws:iam::1:user/bob"}), [not_mine]) == ALLOW
    assert evaluate(Request("iam:ListRoles", "*", {**ROLE_SESSION_CTX, "aws:PrincipalArn": "arn:aws:iam::1:role/r"}), [not_mine]) == IMPLICIT_DENY
    # With a default ("Specifying default values") the variable has a value.
    dflt = policy(allow("s3:GetObject", Condition={"StringNotEquals": {"s3:ExistingObjectTag/Team": "${aws:PrincipalTag/Team, 'none'}"}}))
    assert evaluate(Request("s3:GetObject", OBJECT, {"s3:ExistingObjectTag/Team": "blue"}), [dflt]) == ALLOW
    assert evaluate(Request("s3:GetObject", OBJECT, {"s3:ExistingObjectTag/Team": "none"}), [dflt]) == IMPLICIT_DENY


def test_a_variable_with_no_value_in_a_positive_condition_matches_nothing():
    # "StringEquals or StringLike do not match, and the policy statement does not take effect"
    switch = {"StringEquals": {"sts:RoleSessionName": "${aws:username}"}}
    assert evaluate(Request("sts:AssumeRole", "*", {**USER_CTX, "sts:RoleSessionName": "alice"}), [policy(allow(Condition=switch))]) == ALLOW
    assert evaluate(Request("sts:AssumeRole", "*", {**ROLE_SESSION_CTX, "sts:RoleSessionName": "alice"}), [policy(allow(Condition=switch))]) == IMPLICIT_DENY
    assert evaluate(Request("sts:AssumeRole", "*", {**ROLE_SESSION_CTX, "sts:RoleSessionName": ""}), [policy(allow(Condition=switch))]) == IMPLICIT_DENY
    assert evaluate(Request("sts:AssumeRole", "*", {**ROLE_SESSION_CTX, "sts:RoleSessionName": "alice"}), [policy(allow(), deny(Condition=switch))]) == ALLOW


def test_a_negated_condition_on_a_variable_with_no_value_in_a_deny_denies_a_role_session():
    # The console switch-role deny written with ${aws:username} instead of the name: a role
    # session has no aws:username, so "StringNotEquals ... do match against a null value".
    only_own_name = policy(allow(), deny("sts:AssumeRole", Condition={"StringNotEquals": {"sts:RoleSessionName": "${aws:username}"}}))
    assert evaluate(Request("sts:AssumeRole", "arn:aws:iam::1:role/r", {**USER_CTX, "sts:RoleSessionName": "alice"}), [only_own_name]) == ALLOW
    assert evaluate(Request("sts:AssumeRole", "arn:aws:iam::1:role/r", {**USER_CTX, "sts:RoleSessionName": "bob"}), [only_own_name]) == EXPLICIT_DENY
    assert evaluate(Request("sts:AssumeRole", "arn:aws:iam::1:role/r", {**ROLE_SESSION_CTX, "sts:RoleSessionName": "alice"}), [only_own_name]) == EXPLICIT_DENY


def test_a_variable_with_no_value_in_not_resource():
    # "the resource that includes a policy variable with no value will not match any resource":
    # a NotResource of it excludes nothing, so a Deny applies to every resource.
    home_only = policy(allow(), {"Effect": "Deny", "Action": "s3:*", "NotResource": ["arn:aws:s3:::home/${aws:username}", "arn:aws:s3:::home/${aws:username}/*"]})
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::home/alice/x", USER_CTX), [home_only]) == ALLOW
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::home/bob/x", USER_CTX), [home_only]) == EXPLICIT_DENY
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::home/alice/x", ROLE_SESSION_CTX), [home_only]) == EXPLICIT_DENY
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::other/x", ROLE_SESSION_CTX), [home_only]) == EXPLICIT_DENY
    # An Allow with such a NotResource would grant every resource under the first reading, and
    # nothing under "the statement [is] invalid": nothing here.
    not_others = policy({"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::private/${aws:PrincipalTag/team}/*"})
    team = {"aws:PrincipalTag/team": "red"}
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::private/red/x", team), [not_others]) == IMPLICIT_DENY
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::shared/x", team), [not_others]) == ALLOW
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::shared/x", {}), [not_others]) == IMPLICIT_DENY
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::private/red/x", {}), [not_others]) == IMPLICIT_DENY


def test_a_variable_with_no_value_in_resource():
    mixed = policy(allow("s3:GetObject", ["arn:aws:s3:::b/home/${aws:username}/*", "arn:aws:s3:::b/public/*"]))
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::b/public/x", USER_CTX), [mixed]) == ALLOW
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::b/home/alice/x", USER_CTX), [mixed]) == ALLOW
    # A role session: the home entry "will not match any resource", and the statement may be
    # "invalid": the public entry is not granted either.
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::b/public/x", ROLE_SESSION_CTX), [mixed]) == IMPLICIT_DENY
    # A Deny on it matches no resource (both readings agree).
    deny_home = policy(allow(), deny("s3:*", "arn:aws:s3:::b/home/${aws:username}/*"))
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::b/home/alice/x", USER_CTX), [deny_home]) == EXPLICIT_DENY
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::b/home/alice/x", ROLE_SESSION_CTX), [deny_home]) == ALLOW


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


def test_broker_console_switch_role_deny_with_not_resource():
    # shared/src/domain/iam_policies.rs `console_with_jit_document`: during a console session
    # the user may switch only into the JIT roles given, named after itself. The second
    # statement is a Deny with NotResource (reference_policies_elements_notresource.html:
    # "Using the NotResource element and "Effect": "Deny" in the same statement denies services
    # and resources that are not explicitly listed"); the shell role is never listed.
    given = ["arn:aws:iam::210000000001:role/OnCall", "arn:aws:iam::210000000001:role/ops/ReadOnly"]
    console = policy(
        {"Sid": "OnlyConsoleSwitchRole", "Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*", "Condition": {"StringNotEquals": {"sts:RoleSessionName": "alice.example"}}},
        {"Sid": "OnlyTheJitRolesGiven", "Effect": "Deny", "Action": "sts:AssumeRole", "NotResource": given},
    )
    identity = [policy(allow("sts:AssumeRole")), console]
    ctx = {"sts:RoleSessionName": "alice.example", "aws:username": "alice.example"}
    for role_arn in given:
        assert evaluate(Request("sts:AssumeRole", role_arn, ctx), identity) == ALLOW
    for other in ("arn:aws:iam::210000000001:role/CibShell", "arn:aws:iam::210000000001:role/OnCall2", "arn:aws:iam::210000000001:role/oncall", "arn:aws:iam::999999999999:role/OnCall"):
        assert evaluate(Request("sts:AssumeRole", other, ctx), identity) == EXPLICIT_DENY
    assert evaluate(Request("sts:AssumeRole", given[0], {"sts:RoleSessionName": "other"}), identity) == EXPLICIT_DENY
    assert evaluate(Request("iam:ListRoles", "*", ctx), identity) == IMPLICIT_DENY  # only sts:AssumeRole is limited (and allowed)
    # With no role given at all, every switch is denied.
    none_given = policy({"Effect": "Deny", "Action": "sts:AssumeRole", "NotResource": []})
    assert evaluate(Request("sts:AssumeRole", given[0], ctx), [policy(allow()), none_given]) == EXPLICIT_DENY


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
