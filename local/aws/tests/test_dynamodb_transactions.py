"""DynamoDB transactions against single-item writes (cib_local_aws.dynamodb_transactions): a
PutItem, UpdateItem or DeleteItem of an item that a TransactWriteItems in flight includes fails at
once with TransactionConflictException ("Transaction conflict handling in DynamoDB",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html: such a
request "conflicts with an ongoing TransactWriteItems request that includes the same item"); other
items, reads, and the transaction's own writes go ahead.
"""

from __future__ import annotations

import threading

import pytest
from moto.dynamodb.exceptions import DynamodbException

from cib_local_aws import dynamodb_transactions as tx

LEASE = {"PK": {"S": "LEASE#role-policy:r"}, "SK": {"S": "LEASE"}}
OTHER = {"PK": {"S": "LEASE#role-policy:other"}, "SK": {"S": "LEASE"}}


class _Table:
    hash_key_attr = "PK"
    range_key_attr = "SK"


class _Backend:
    """moto's single-item methods, as `_taking_turns` wraps them (same names and arguments)."""

    tables = {"T": _Table()}

    def put_item(self, table_name, item_attrs, *rest, **kwargs):
        return "put"

    def update_item(self, table_name, key, *rest, **kwargs):
        return "updated"

    def delete_item(self, table_name, key, *rest, **kwargs):
        return "deleted"

    def get_item(self, table_name, keys, *rest, **kwargs):
        return "got"


@pytest.fixture
def in_flight():
    def hold(thread: int) -> None:
        tx._in_flight.update(thread=thread, keys={"T": [LEASE]})

    yield hold
    tx._in_flight.update(thread=None, keys={})


def wrapped(name: str):
    return tx._taking_turns(getattr(_Backend, name))


def test_a_write_of_an_item_another_transaction_is_writing_fails_with_transaction_conflict(in_flight) -> None:
    in_flight(threading.get_ident() + 1)
    backend = _Backend()
    for name, args in [
        ("put_item", ("T", {**LEASE, "owner": {"S": "me"}})),
        ("update_item", ("T", LEASE)),
        ("delete_item", ("T", LEASE)),
    ]:
        with pytest.raises(DynamodbException) as refused:
            wrapped(name)(backend, *args)
        assert refused.value.error_type.endswith("#TransactionConflictException"), name
    # Other items, and reads of the held one, go ahead.
    assert wrapped("put_item")(backend, "T", {**OTHER, "owner": {"S": "me"}}) == "put"
    assert wrapped("delete_item")(backend, "T", OTHER) == "deleted"
    assert wrapped("get_item")(backend, "T", LEASE) == "got"


def test_the_transactions_own_writes_and_writes_after_it_go_ahead(in_flight) -> None:
    backend = _Backend()
    in_flight(threading.get_ident())
    assert wrapped("put_item")(backend, "T", {**LEASE, "owner": {"S": "me"}}) == "put"
    tx._in_flight.update(thread=None, keys={})
    assert wrapped("delete_item")(backend, "T", LEASE) == "deleted"
