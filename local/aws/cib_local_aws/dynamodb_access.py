"""DynamoDB's fine-grained access: what each DynamoDB call is authorized as, which moto does
not know (it checks every DynamoDB call once, as its operation name, on the resource `*`, with
no DynamoDB condition keys). Used by `enforcement`; pure functions apart from reading a
table's key schema from moto.

Sources (Amazon DynamoDB Developer Guide):
- "Using IAM policy conditions for fine-grained access control"
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html):
  `dynamodb:LeadingKeys` is the partition key value(s) a request reads or writes, a multivalued
  key ("you must use the ForAllValues modifier when using LeadingKeys"); for a Query on a
  secondary index it is the index's partition key, from the key condition;
- "DynamoDB API permissions: Actions, resources, and conditions reference" and the Service
  Authorization Reference: a call on a table is authorized on the table's ARN
  (`arn:<partition>:dynamodb:<region>:<account>:table/<name>`), a Query or Scan of an index on
  the index's (`…/index/<name>`);
- "Using IAM with DynamoDB transactions"
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html):
  TransactWriteItems and TransactGetItems need the permission of each action they hold
  (PutItem, UpdateItem, DeleteItem, ConditionCheckItem; GetItem) on each item's table.

So a call is checked as `checks` lists it: single-table calls once, on the table (or index)
with LeadingKeys; a transaction once per item, as the item's action; BatchGetItem and
BatchWriteItem once per table, with the partition keys of that table's items. Not modelled:
`dynamodb:Attributes`, `dynamodb:Select`, `dynamodb:ReturnValues`,
`dynamodb:EnclosingOperation` (absent: an Allow requiring them does not apply); a key condition
this module cannot read (DynamoDB refuses it anyway) leaves LeadingKeys absent.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

LEADING_KEYS = "dynamodb:LeadingKeys"

# A transaction item's kind → the action it needs.
_TRANSACT_WRITE = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}

# `<operand> = <operand>`, where an operand is an attribute name, a #placeholder or a :value.
_EQUALITY = re.compile(r"^\(*\s*([#:]?[\w.\-]+)\s*=\s*([#:]?[\w.\-]+)\s*\)*$")

# (table, index or None) → the partition key attribute's name, or None when unknown.
HashKeyOf = Callable[[str, "str | None"], "str | None"]


def table_arn(partition: str, region: str, account: str, table: str) -> str:
    """The ARN a call on `table` is authorized on (a table given by ARN is its own)."""
    return table if table.startswith("arn:") else f"arn:{partition}:dynamodb:{region}:{account}:table/{table}"


def _scalar(value: Any) -> str | None:
    """The value of a key attribute ({"S": "a"} → "a"; N and B as written); None if not one."""
    if isinstance(value, dict) and len(value) == 1:
        kind, v = next(iter(value.items()))
        if kind in ("S", "N", "B") and isinstance(v, str):
            return v
    return None


def _partition_of(item: Any, hash_key: str | None) -> list[str]:
    if not hash_key or not isinstance(item, dict):
        return []
    v = _scalar(item.get(hash_key))
    return [] if v is None else [v]


def query_partition(request: dict, hash_key: str | None) -> str | None:
    """The partition key value a Query's key condition names (KeyConditionExpression, or the
    legacy KeyConditions), or None when it names none this function can read."""
    if not hash_key:
        return None
    expression = request.get("KeyConditionExpression")
    if isinstance(expression, str):
        names = request.get("ExpressionAttributeNames") or {}
        values = request.get("ExpressionAttributeValues") or {}
        for clause in re.split(r"\s+AND\s+", expression.strip(), flags=re.IGNORECASE):
            m = _EQUALITY.match(clause.strip())
            if not m:
                continue
            for name, value in (m.groups(), m.groups()[::-1]):
                if names.get(name, name) == hash_key and value.startswith(":") and value in values:
                    return _scalar(values[value])
        return None
    condition = (request.get("KeyConditions") or {}).get(hash_key)
    if isinstance(condition, dict) and condition.get("ComparisonOperator") == "EQ":
        listed = condition.get("AttributeValueList") or []
        return _scalar(listed[0]) if listed else None
    return None


def _keys_context(values: list[str]) -> dict[str, list[str]]:
    return {LEADING_KEYS: values} if values else {}


def checks(action: str, request: dict, arn: Callable[[str], str], hash_key_of: HashKeyOf) -> list[tuple[str, str, dict]] | None:
    """What `action` with this request body is authorized as: (action, resource ARN, extra
    context keys) for each check, all of which must allow; None for a call this module does
    not model (it keeps moto's single check on `*`). `arn` maps a table name to its ARN."""
    operation = action.split(":", 1)[-1]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        out = []
        for entry in request.get("TransactItems") or []:
            for kind, body in (entry or {}).items():
                item_action = "dynamodb:GetItem" if kind == "Get" else _TRANSACT_WRITE.get(kind)
                table = (body or {}).get("TableName")
                if item_action is None or not isinstance(table, str):
                    continue
                key = body.get("Item") if kind == "Put" else body.get("Key")
                out.append((item_action, arn(table), _keys_context(_partition_of(key, hash_key_of(table, None)))))
        return out or None
    if operation in ("BatchGetItem", "BatchWriteItem"):
        out = []
        for table, spec in (request.get("RequestItems") or {}).items():
            hash_key = hash_key_of(table, None)
            if operation == "BatchGetItem":
                items = (spec or {}).get("Keys") or []
            else:
                items = [(w.get("PutRequest") or {}).get("Item") or (w.get("DeleteRequest") or {}).get("Key") for w in spec or []]
            values = list(dict.fromkeys(v for item in items for v in _partition_of(item, hash_key)))
            out.append((action, arn(table), _keys_context(values)))
        return out or None
    table = request.get("TableName")
    if not isinstance(table, str):
        return None
    index = request.get("IndexName") if operation in ("Query", "Scan") else None
    resource = arn(table) + (f"/index/{index}" if isinstance(index, str) else "")
    hash_key = hash_key_of(table, index if isinstance(index, str) else None)
    if operation in ("GetItem", "DeleteItem", "UpdateItem"):
        keys = _partition_of(request.get("Key"), hash_key)
    elif operation == "PutItem":
        keys = _partition_of(request.get("Item"), hash_key)
    elif operation == "Query":
        value = query_partition(request, hash_key)
        keys = [] if value is None else [value]
    else:
        keys = []  # table-level calls (Scan, DescribeTable, ...) name no partition
    return [(action, resource, _keys_context(keys))]


def moto_hash_key(account: str, region: str) -> HashKeyOf:
    """The partition key attribute of a table (or of one of its indexes) in moto's backend."""

    def hash_key_of(table: str, index: str | None) -> str | None:
        from moto.dynamodb.models import dynamodb_backends

        name = table.rsplit("/", 1)[-1] if table.startswith("arn:") else table
        found = dynamodb_backends[account][region].tables.get(name)
        if found is None:
            return None
        if index is None:
            return found.hash_key_attr or None
        for ix in list(found.global_indexes) + list(found.indexes):
            if ix.name == index:
                return next((k["AttributeName"] for k in ix.schema if k.get("KeyType") == "HASH"), None)
        return None

    return hash_key_of


def request_checks(action: str, body: bytes | str | None, partition: str, region: str, account: str) -> list[tuple[str, str, dict]] | None:
    """`checks` for a signed DynamoDB request as moto received it (its JSON body)."""
    try:
        request = json.loads(body or b"{}")
    except (TypeError, ValueError):
        return None
    if not isinstance(request, dict):
        return None
    return checks(action, request, lambda table: table_arn(partition, region, account, table), moto_hash_key(account, region))
