"""DynamoDB's fine-grained access (`dynamodb_access`, through `enforcement`): a call is authorized
on its table's (or index's) ARN with `dynamodb:LeadingKeys`, the partition key value it reads or
writes; for a Query on an index, the index's partition key from the key condition (Amazon
DynamoDB Developer Guide, "Using IAM policy conditions for fine-grained access control",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html). A
transaction needs each item's own action on its table ("Using IAM with DynamoDB transactions",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).

The broker relies on it: the internet-facing chatops function's policy (infra/template.yaml)
reaches only the key prefixes it uses, and on GSI1 only the Slack links' partition. The server
test below gives a user exactly that function's table statements, read from the template.
"""

from __future__ import annotations

import json
import os

import pytest
import yaml
from botocore.exceptions import ClientError
from conftest import ACCOUNT, REGION, code, unique, user_with_key

from cib_local_aws import dynamodb_access

TEMPLATE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "infra", "template.yaml")
ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/T"


def arn(table: str) -> str:
    return dynamodb_access.table_arn("aws", REGION, ACCOUNT, table)


def hash_key_of(table: str, index: str | None) -> str | None:
    return {None: "PK", "GSI1": "GSI1PK"}.get(index)


def checks(action: str, request: dict):
    return dynamodb_access.checks(f"dynamodb:{action}", request, arn, hash_key_of)


def s(v: str) -> dict:
    return {"S": v}


def test_item_calls_are_checked_on_the_table_with_the_items_partition_key():
    key = {"PK": s("SLACKUSER#U1"), "SK": s("SLACKUSER")}
    for action in ("GetItem", "DeleteItem", "UpdateItem"):
        assert checks(action, {"TableName": "T", "Key": key}) == [(f"dynamodb:{action}", ARN, {"dynamodb:LeadingKeys": ["SLACKUSER#U1"]})]
    assert checks("PutItem", {"TableName": "T", "Item": {**key, "v": {"N": "1"}}}) == [("dynamodb:PutItem", ARN, {"dynamodb:LeadingKeys": ["SLACKUSER#U1"]})]
    # A table-level call names no partition; a call on no table is left to moto's check.
    assert checks("Scan", {"TableName": "T", "IndexName": "GSI1"}) == [("dynamodb:Scan", ARN + "/index/GSI1", {})]
    assert checks("DescribeTable", {"TableName": "T"}) == [("dynamodb:DescribeTable", ARN, {})]
    assert checks("ListTables", {}) is None


def test_a_query_is_checked_on_what_it_queries_with_the_partition_its_key_condition_names():
    values = {":p": s("SLACKUSERS"), ":s": s("U")}
    on_index = {"TableName": "T", "IndexName": "GSI1", "ExpressionAttributeValues": values}
    # On an index: the index's ARN and its partition key (GSI1PK), however the condition is written.
    for condition, names in [
        ("GSI1PK = :p", {}),
        (":p = GSI1PK", {}),
        ("#pk = :p AND begins_with(GSI1SK, :s)", {"#pk": "GSI1PK"}),
        ("(GSI1PK = :p) and GSI1SK > :s", {}),
    ]:
        request = {**on_index, "KeyConditionExpression": condition, "ExpressionAttributeNames": names}
        assert checks("Query", request) == [("dynamodb:Query", ARN + "/index/GSI1", {"dynamodb:LeadingKeys": ["SLACKUSERS"]})], condition
    # The table's partition key is not the index's: equality on PK names no GSI1 partition.
    assert checks("Query", {**on_index, "KeyConditionExpression": "PK = :p"}) == [("dynamodb:Query", ARN + "/index/GSI1", {})]
    # On the table, and with the legacy KeyConditions.
    legacy = {"TableName": "T", "KeyConditions": {"PK": {"ComparisonOperator": "EQ", "AttributeValueList": [s("ACCOUNT#1")]}}}
    assert checks("Query", legacy) == [("dynamodb:Query", ARN, {"dynamodb:LeadingKeys": ["ACCOUNT#1"]})]


def test_transactions_are_checked_item_by_item_and_batches_table_by_table():
    request = {
        "TransactItems": [
            {"Put": {"TableName": "T", "Item": {"PK": s("a"), "SK": s("1")}}},
            {"Update": {"TableName": "T", "Key": {"PK": s("b"), "SK": s("1")}, "UpdateExpression": "SET v = :v"}},
            {"Delete": {"TableName": "T", "Key": {"PK": s("c"), "SK": s("1")}}},
            {"ConditionCheck": {"TableName": "T", "Key": {"PK": s("d"), "SK": s("1")}, "ConditionExpression": "attribute_exists(PK)"}},
        ]
    }
    assert checks("TransactWriteItems", request) == [
        ("dynamodb:PutItem", ARN, {"dynamodb:LeadingKeys": ["a"]}),
        ("dynamodb:UpdateItem", ARN, {"dynamodb:LeadingKeys": ["b"]}),
        ("dynamodb:DeleteItem", ARN, {"dynamodb:LeadingKeys": ["c"]}),
        ("dynamodb:ConditionCheckItem", ARN, {"dynamodb:LeadingKeys": ["d"]}),
    ]
    gets = {"TransactItems": [{"Get": {"TableName": "T", "Key": {"PK": s("a"), "SK": s("1")}}}]}
    assert checks("TransactGetItems", gets) == [("dynamodb:GetItem", ARN, {"dynamodb:LeadingKeys": ["a"]})]
    writes = {"RequestItems": {"T": [{"PutRequest": {"Item": {"PK": s("a")}}}, {"DeleteRequest": {"Key": {"PK": s("b")}}}, {"PutRequest": {"Item": {"PK": s("a")}}}]}}
    assert checks("BatchWriteItem", writes) == [("dynamodb:BatchWriteItem", ARN, {"dynamodb:LeadingKeys": ["a", "b"]})]


class _Cfn(yaml.SafeLoader):
    """YAML with CloudFormation's short tags, each read as its long form (`!Ref x` → {"Ref": x})."""


def _tag(loader: _Cfn, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_Cfn.add_multi_constructor("!", _tag)


def chatops_table_statements(table_arn: str) -> list[dict]:
    """The chatops function's DynamoDB statements as the template writes them, for a table at
    `table_arn` (its `!GetAtt Table.Arn` and `!Sub ${Table.Arn}/…` resources resolved)."""
    with open(TEMPLATE) as f:
        template = yaml.load(f, Loader=_Cfn)

    def resolve(resource):
        if resource == {"Fn::GetAtt": "Table.Arn"}:
            return table_arn
        if isinstance(resource, dict) and isinstance(resource.get("Fn::Sub"), str) and resource["Fn::Sub"].startswith("${Table.Arn}"):
            return resource["Fn::Sub"].replace("${Table.Arn}", table_arn)
        pytest.fail(f"a table resource this test does not resolve: {resource!r}")

    out = []
    for policy in template["Resources"]["ChatopsFunction"]["Properties"]["Policies"]:
        for st in policy.get("Statement", []) if isinstance(policy, dict) else []:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            if all(a.startswith("dynamodb:") for a in actions):
                out.append({**st, "Resource": resolve(st["Resource"])})
    assert {a for st in out for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])} == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
    }
    return out


def test_the_chatops_functions_table_policy_reaches_only_its_prefixes_and_the_links_partition(aws):
    admin = aws.client("dynamodb", aws.admin)
    table = unique("broker")
    attrs = ["PK", "SK", "GSI1PK", "GSI1SK"]
    admin.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in attrs],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "GSI1",
                "KeySchema": [{"AttributeName": "GSI1PK", "KeyType": "HASH"}, {"AttributeName": "GSI1SK", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    table_arn = admin.describe_table(TableName=table)["Table"]["TableArn"]
    assert table_arn == dynamodb_access.table_arn("aws", REGION, ACCOUNT, table)
    policy = json.dumps({"Version": "2012-10-17", "Statement": chatops_table_statements(table_arn)})
    _, keys = user_with_key(aws, unique("chatops"), policy)
    ddb = aws.client("dynamodb", keys)

    def item(pk: str, sk: str = "X", gsi1: str | None = None) -> dict:
        out = {"PK": s(pk), "SK": s(sk)}
        if gsi1:
            out.update({"GSI1PK": s(gsi1), "GSI1SK": s(pk)})
        return out

    def key(pk: str) -> dict:
        return {"PK": s(pk), "SK": s("X")}

    def query_gsi1(partition: str):
        return ddb.query(TableName=table, IndexName="GSI1", KeyConditionExpression="GSI1PK = :p", ExpressionAttributeValues={":p": s(partition)})

    admin.put_item(TableName=table, Item=item("ACCOUNT#1", gsi1="ACCOUNTS"))
    admin.put_item(TableName=table, Item=item("IDENTITY#1"))

    # What it uses: replay records put, identities read and put, links read, put (also in a
    # transaction, as the link store writes them), deleted and listed from GSI1's partition.
    ddb.put_item(TableName=table, Item=item("SEEN#1"))
    assert ddb.get_item(TableName=table, Key=key("IDENTITY#1"))["Item"]["PK"] == s("IDENTITY#1")
    ddb.put_item(TableName=table, Item=item("IDENTITYEMAIL#a@example.com"))
    ddb.put_item(TableName=table, Item=item("SLACKUSER#U1", gsi1="SLACKUSERS"))
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": item("SLACKUSER#U2", gsi1="SLACKUSERS")}}])
    assert [i["PK"] for i in query_gsi1("SLACKUSERS")["Items"]] == [s("SLACKUSER#U1"), s("SLACKUSER#U2")]
    assert ddb.get_item(TableName=table, Key=key("SLACKUSER#U1"))["Item"]["PK"] == s("SLACKUSER#U1")
    ddb.delete_item(TableName=table, Key=key("SLACKUSER#U1"))

    # Nothing else: other prefixes, other actions on its prefixes, another GSI1 partition, the
    # table's partitions by Query, a Scan, a transaction holding one item outside its prefixes.
    refused = [
        lambda: ddb.get_item(TableName=table, Key=key("ACCOUNT#1")),
        lambda: ddb.get_item(TableName=table, Key=key("SEEN#1")),
        lambda: ddb.put_item(TableName=table, Item=item("ACCOUNT#2")),
        lambda: ddb.delete_item(TableName=table, Key=key("IDENTITY#1")),
        lambda: query_gsi1("ACCOUNTS"),
        lambda: ddb.query(TableName=table, KeyConditionExpression="PK = :p", ExpressionAttributeValues={":p": s("SLACKUSER#U2")}),
        lambda: ddb.scan(TableName=table, IndexName="GSI1"),
        lambda: ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": item("SLACKUSER#U3")}},
                {"Put": {"TableName": table, "Item": item("ACCOUNT#3")}},
            ]
        ),
    ]
    for i, call in enumerate(refused):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "AccessDeniedException", i
    # The refused transaction wrote nothing.
    assert "Item" not in admin.get_item(TableName=table, Key=key("SLACKUSER#U3"))
