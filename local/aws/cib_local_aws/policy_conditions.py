"""IAM condition operators and matching, as AWS documents them: pure functions, no moto.

Owns how one value in a request is compared with the values in a policy: the string, numeric,
date, Bool, Binary, IP address and ARN operators, their negations, `...IfExists`, `Null`, the
`ForAnyValue:` / `ForAllValues:` set qualifiers, the `*` / `?` wildcards, and ${...} policy
variables. Split from `policy_eval` (which owns statements, principals and the decision) to
keep each part readable.

Sources (IAM User Guide): reference_policies_elements_condition_operators.html (operators; a
key absent from the request context makes an operator false and a negated one true, except
for ...IfExists and Null), reference_policies_condition-single-vs-multi-valued-context-keys.html
(set qualifiers, empty sets; "Multivalued context keys require a condition set operator"),
reference_policies_condition-logic-multiple-context-keys-or-values.html (operators and keys
AND, values OR, a negated operator's values NOR), reference_policies_variables.html (policy
variables, defaults, ${*} ${?} ${$}, "Policy variables with no value").

Where AWS documents no single answer a condition is UNDETERMINED, and the statement's effect
decides (`policy_eval.statement_applies`): an Allow needs a certain match, a Deny applies
unless it certainly does not match.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import operator
import re
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any


def as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def as_str(value: Any) -> str:
    # JSON booleans and numbers are accepted by AWS where strings are expected.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@functools.lru_cache(maxsize=8192)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """`*` any run of characters (including none), `?` exactly one, the rest literal; a
    character after the marker NUL is literal too (it came from a policy variable)."""
    parts = []
    literal = False
    for ch in pattern:
        if literal:
            parts.append(re.escape(ch))
            literal = False
        elif ch == "\0":
            literal = True
        else:
            parts.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def substitute(text: str, ctx: dict[str, list[str]] | None) -> str | None:
    """Policy variables (2012-10-17 policies only): `${aws:username}` becomes its value,
    `${key, 'default'}` falls back to the default, `${*}` `${?}` `${$}` are literal characters.
    A variable naming a key that is absent (no default) or multivalued cannot be resolved:
    None (AWS: the value is "effectively null"; see the callers for what that matches). The
    result is a glob whose substituted parts are escaped, so a value containing `*` stays
    literal."""
    if ctx is None or "${" not in text:
        return text
    out: list[str] = []
    pos = 0
    for m in _VARIABLE.finditer(text):
        out.append(text[pos : m.start()])
        pos = m.end()
        inner = m.group(1)
        if inner in ("*", "?", "$"):
            out.append("\0" + inner)  # a literal wildcard character, marked
            continue
        name, _, default = inner.partition(",")
        values = ctx.get(name.strip().lower())
        if values is not None and len(values) == 1:
            out.append(values[0].replace("*", "\0*").replace("?", "\0?"))
        elif default.strip().startswith("'") and default.strip().endswith("'") and len(default.strip()) >= 2:
            out.append(default.strip()[1:-1])
        else:
            return None
    out.append(text[pos:])
    return "".join(out)


def match_glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return _glob(pattern, ignore_case).fullmatch(value) is not None


def _match_arn(pattern: str, value: str) -> bool:
    """ArnLike/ArnEquals: each of the six colon-separated parts is matched on its own."""
    p, v = pattern.split(":", 5), value.split(":", 5)
    if len(p) != 6 or len(v) != 6:
        return match_glob(pattern, value)
    return all(match_glob(a, b) for a, b in zip(p, v))


_ISO = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?)?)?"
    r"(Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)


@functools.lru_cache(maxsize=4096)
def parse_time(text: str) -> Decimal | None:
    """A W3C ISO 8601 date/time or epoch seconds, as exact epoch seconds (None if neither).
    A time without a zone is UTC."""
    text = text.strip()
    try:
        if re.fullmatch(r"-?\d+(\.\d+)?", text) and not re.fullmatch(r"\d{4}", text):
            return Decimal(text)
    except InvalidOperation:
        return None
    m = _ISO.match(text)
    if not m:
        return None
    year, month, day, hh, mm, ss, frac, tz = m.groups()
    try:
        t = datetime(int(year), int(month or 1), int(day or 1), int(hh or 0), int(mm or 0), int(ss or 0), tzinfo=timezone.utc)
    except ValueError:
        return None
    seconds = Decimal(int(t.timestamp()))
    if frac:
        seconds += Decimal("0." + frac)
    if tz and tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = int(digits[:2]) * 3600 + (int(digits[2:4]) * 60 if len(digits) > 2 else 0)
        seconds -= sign * offset
    return seconds


def _number(text: str) -> Decimal | None:
    try:
        n = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        return None
    return n if n.is_finite() else None


def _ip_in(value: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(value.strip()) in ipaddress.ip_network(network.strip(), strict=False)
    except ValueError:
        return False


def _compare(kind: str, cmp):
    parse = parse_time if kind == "date" else _number

    def test(value: str, policy: str) -> bool:
        a, b = parse(value), parse(policy)
        return a is not None and b is not None and cmp(a, b)

    return test


# Positive operators: (per-value test, whether policy variables apply). A negated operator is
# the logical negation of its positive twin (_NEGATED maps one to the other).
_POSITIVE = {
    "stringequals": (lambda v, p: v == p, True),
    "stringequalsignorecase": (lambda v, p: v.casefold() == p.casefold(), True),
    "stringlike": (lambda v, p: match_glob(p, v), True),
    "numericequals": (_compare("number", operator.eq), False),
    "numericlessthan": (_compare("number", operator.lt), False),
    "numericlessthanequals": (_compare("number", operator.le), False),
    "numericgreaterthan": (_compare("number", operator.gt), False),
    "numericgreaterthanequals": (_compare("number", operator.ge), False),
    "dateequals": (_compare("date", operator.eq), False),
    "datelessthan": (_compare("date", operator.lt), False),
    "datelessthanequals": (_compare("date", operator.le), False),
    "dategreaterthan": (_compare("date", operator.gt), False),
    "dategreaterthanequals": (_compare("date", operator.ge), False),
    "bool": (lambda v, p: v.lower() == p.lower(), True),
    "binaryequals": (lambda v, p: v == p, False),
    "ipaddress": (_ip_in, False),
    "arnequals": (lambda v, p: _match_arn(p, v), True),
    "arnlike": (lambda v, p: _match_arn(p, v), True),
}
_GLOB_OPERATORS = {"stringlike", "arnequals", "arnlike"}
_NEGATED = {
    "stringnotequals": "stringequals",
    "stringnotequalsignorecase": "stringequalsignorecase",
    "stringnotlike": "stringlike",
    "numericnotequals": "numericequals",
    "datenotequals": "dateequals",
    "notipaddress": "ipaddress",
    "arnnotequals": "arnequals",
    "arnnotlike": "arnlike",
}


# The operators AWS defines (reference_policies_elements_condition_operators.html), spelled
# exactly so: "You can add IfExists to the end of any condition operator name except the Null
# condition operator", and ForAnyValue: / ForAllValues: may stand before any of them
# (reference_policies_condition-single-vs-multi-valued-context-keys.html). Anything else is
# not an operator: IAM refuses the policy ("Syntax errors in policy.", see `iam_quotas`).
OPERATORS = frozenset(
    [
        "StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
        "StringLike", "StringNotLike",
        "NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
        "NumericGreaterThan", "NumericGreaterThanEquals",
        "DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan",
        "DateGreaterThanEquals",
        "Bool", "BinaryEquals", "IpAddress", "NotIpAddress",
        "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike",
        "Null",
    ]
)
SET_QUALIFIERS = ("ForAnyValue:", "ForAllValues:")


def parse_operator(name: Any) -> tuple[str | None, str, bool] | None:
    """`ForAllValues:StringLikeIfExists` → ("forallvalues", "stringlike", True); None when
    `name` is not an operator AWS defines (unknown, misspelt, `NullIfExists`)."""
    if not isinstance(name, str):
        return None
    qualifier = None
    for q in SET_QUALIFIERS:
        if name.startswith(q):
            qualifier, name = q[:-1].lower(), name[len(q) :]
            break
    if_exists = name.endswith("IfExists")
    base = name[: -len("IfExists")] if if_exists else name
    if base not in OPERATORS or (if_exists and base == "Null"):
        return None
    return qualifier, base.lower(), if_exists


def condition_syntax_error(document: Any) -> bool:
    """Whether a policy holds a Condition AWS cannot read: not an object, an operator AWS does
    not define, or an operator whose block is not an object of keys. A document that is not
    a JSON object with statements is not judged here (moto's validation answers for it)."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return False
    if not isinstance(document, dict):
        return False
    statements = document.get("Statement")
    statements = [statements] if isinstance(statements, dict) else statements
    if not isinstance(statements, list):
        return False
    for st in statements:
        if not isinstance(st, dict) or "Condition" not in st:
            continue
        condition = st["Condition"]
        if not isinstance(condition, dict):
            return True
        for op_name, block in condition.items():
            if parse_operator(op_name) is None or not isinstance(block, dict):
                return True
    return False


# A condition's result is True, False or UNDETERMINED: AWS documents no single answer (an
# operator it does not define, a multivalued key compared without ForAllValues/ForAnyValue).
# The caller decides as strictly as AWS could: an Allow needs True, a Deny applies unless
# False. So locally an Allow never grants, and a Deny never spares, what AWS might not.
UNDETERMINED = None


def _condition_result(op_name: str, key: str, policy_values: list, ctx: dict[str, list[str]], variables: bool) -> tuple[bool | None, bool]:
    """(result, unresolved): the condition's result (see UNDETERMINED) and whether one of
    its values holds a policy variable that could not be resolved."""
    parsed = parse_operator(op_name)
    if parsed is None:
        return UNDETERMINED, False  # cannot be written (see iam_quotas); AWS would not hold it
    qualifier, op, if_exists = parsed
    values = ctx.get(key.lower())
    present = values is not None and len(values) > 0

    if op == "null":
        # Null: "true" means the key is absent, "false" that it is present; values are OR.
        return any((as_str(p).lower() == "true") != present for p in policy_values), False

    negated = op in _NEGATED
    base = _NEGATED.get(op, op)
    test, takes_variables = _POSITIVE[base]

    # Policy variables (reference_policies_variables.html, "Policy variables with no value"):
    # one with no value is "effectively null": positive operators do not match it, "Inverted
    # condition operators like StringNotEquals or StringNotLike do match against a null
    # value". So an unresolved value is left out of the OR (NOR for a negated operator).
    patterns = []
    unresolved = False
    for p in policy_values:
        s = as_str(p)
        if variables and takes_variables:
            s = substitute(s, ctx)
            if s is None:
                unresolved = True
                continue
            if base not in _GLOB_OPERATORS:
                s = s.replace("\0", "")  # the literal markers only mean something to globs
        patterns.append(s)

    if not present:
        if if_exists or qualifier == "forallvalues":
            return True, unresolved  # IfExists: absent → true; ForAllValues: the empty set → true
        if qualifier == "foranyvalue":
            return False, unresolved
        return negated, unresolved  # absent: "the values do not match" → positive false, negated true

    def one(v: str) -> bool:  # does one request value match any policy value (OR)?
        return any(test(v, p) for p in patterns)

    if qualifier in ("forallvalues", "foranyvalue"):
        # An empty string resolves to an empty data set (multi-value-conditions page).
        vals = [v for v in values if v != ""]
        if not vals:
            return qualifier == "forallvalues", unresolved
        results = ((not one(v)) if negated else one(v) for v in vals)
        return (all(results) if qualifier == "forallvalues" else any(results)), unresolved
    if len(values) > 1:
        # A multivalued key without a set qualifier: "Multivalued context keys require a
        # condition set operator" (single-vs-multi-valued page; Access Analyzer's "Missing
        # qualifier" error). What AWS then does is not documented: any value, every value, or
        # none at all. Only "no reading can match" is certain.
        matches = [one(v) for v in values]
        if negated:
            return (False if all(matches) else UNDETERMINED), unresolved
        return (False if not any(matches) else UNDETERMINED), unresolved
    hit = one(values[0])
    return (not hit) if negated else hit, unresolved


def conditions_result(condition: Any, ctx: dict[str, list[str]], variables: bool) -> tuple[bool | None, bool]:
    """(result, unresolved) of a Condition element: operators AND, keys within an operator
    AND, values for one key OR. False wins over UNDETERMINED, which wins over True."""
    if not condition:
        return True, False
    if not isinstance(condition, dict):
        return UNDETERMINED, False  # cannot be written; AWS would not hold it
    result: bool | None = True
    unresolved = False
    for op_name, block in condition.items():
        if parse_operator(op_name) is None or not isinstance(block, dict):
            result = UNDETERMINED  # cannot be written (iam_quotas); even with no keys
            continue
        for key, policy_values in block.items():
            r, u = _condition_result(op_name, key, as_list(policy_values), ctx, variables)
            unresolved = unresolved or u
            if r is False:
                return False, unresolved
            if r is UNDETERMINED:
                result = UNDETERMINED
    return result, unresolved


def conditions_true(condition: Any, ctx: dict[str, list[str]], variables: bool) -> bool:
    """Whether the Condition element certainly holds (see `conditions_result`)."""
    return conditions_result(condition, ctx, variables)[0] is True
