"""Scale: a cheap rollback backup for DynamoDB TransactWriteItems.

Before each TransactWriteItems, moto deep-copies every table it may touch so that it can roll
back; at a few thousand items that costs gigabytes of churn over a test run. The backup made
here copies the table's item index (the dicts, not the items) plus deep copies of only the
items the transaction touches. A rollback restores exactly what moto's full copy would: items
the transaction does not touch are never modified in place, so sharing them is safe.

moto takes the copy with `copy.deepcopy` inside `moto.dynamodb.models`; the module's `copy`
is replaced by a shim that forwards everything except deep copies of a Table.

Isolation: DynamoDB runs transactions serializably with one another and with single-item
reads and writes (GetItem, PutItem, UpdateItem, DeleteItem): "Isolation levels for DynamoDB
transactions", https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html.
moto's server is threaded and a transaction checks its conditions, writes item by item and, on
failure, puts the copied table back; two at once could both pass a condition only one may (two
writes using up one issued ExternalId), and a rollback could undo a write made meanwhile. Here
they take turns under one lock. But a PutItem, UpdateItem or DeleteItem of an item a transaction
in flight is writing fails at once with TransactionConflictException, as AWS answers it
("Transaction conflict handling in DynamoDB", same page: such a request "conflicts with an ongoing
TransactWriteItems request that includes the same item"); the SDK does not retry it. Reads still
wait their turn.
"""

from __future__ import annotations

import copy as _copy
import threading
from collections import defaultdict

# Which keys the running transaction touches, per table name (one transaction per thread).
_touched = threading.local()
# The transaction in flight, readable without waiting for the lock: its thread and its keys per
# table. A single-item write from another thread to one of those items is refused at once.
_in_flight: dict = {"thread": None, "keys": {}}
# Transactions and single-item reads and writes take turns (reentrant: a transaction's own
# items go through the single-item methods).
_turns = threading.RLock()


def apply() -> None:
    from moto.dynamodb import models as ddb
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    class _CopyShim:
        def __getattr__(self, name):
            return getattr(_copy, name)

        def deepcopy(self, x, memo=None):
            if not isinstance(x, Table):
                return _copy.deepcopy(x, memo)
            snap = _copy.copy(x)
            snap.items = defaultdict(dict)
            for h, v in x.items.items():
                snap.items[h] = dict(v) if isinstance(v, dict) else v
            for key in getattr(_touched, "keys", {}).get(x.name, []):
                try:
                    h = DynamoType(key[x.hash_key_attr])
                    r = DynamoType(key[x.range_key_attr]) if x.range_key_attr else None
                    item = x.get_item(h, r)
                except Exception:
                    continue
                if item is not None:
                    if r is None:
                        snap.items[h] = _copy.deepcopy(item)
                    else:
                        snap.items[h][r] = _copy.deepcopy(item)
            return snap

    ddb.copy = _CopyShim()
    original = ddb.DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        keys = {}
        for item in transact_items:
            for op in item.values():
                name = op.get("TableName")
                table = self.tables.get(name)
                if table is None:
                    continue
                key = op.get("Key") or {
                    a: op.get("Item", {}).get(a) for a in (table.hash_key_attr, table.range_key_attr) if a
                }
                keys.setdefault(name, []).append(key)
        with _turns:
            _touched.keys = keys
            _in_flight.update(thread=threading.get_ident(), keys=keys)
            try:
                return original(self, transact_items)
            finally:
                _in_flight.update(thread=None, keys={})
                _touched.keys = {}

    ddb.DynamoDBBackend.transact_write_items = transact_write_items
    for name in ("get_item", "put_item", "update_item", "delete_item"):
        setattr(ddb.DynamoDBBackend, name, _taking_turns(getattr(ddb.DynamoDBBackend, name)))


def _write_key(backend, name: str, args: tuple, kwargs: dict) -> tuple[str, dict] | None:
    """The table and key a single-item write names (None for a read or a call not understood)."""
    if name == "put_item":
        table_name = kwargs.get("table_name", args[0] if args else None)
        item = kwargs.get("item_attrs", args[1] if len(args) > 1 else None)
        table = backend.tables.get(table_name) if table_name else None
        if table is None or not isinstance(item, dict):
            return None
        attrs = [a for a in (table.hash_key_attr, table.range_key_attr) if a]
        return table_name, {a: item.get(a) for a in attrs}
    if name in ("update_item", "delete_item"):
        table_name = kwargs.get("table_name", args[0] if args else None)
        key = kwargs.get("key", args[1] if len(args) > 1 else None)
        return (table_name, key) if table_name and isinstance(key, dict) else None
    return None


def conflicts(table_name: str, key: dict) -> bool:
    """Whether another thread's transaction in flight writes the item `key` of `table_name`."""
    owner = _in_flight["thread"]
    if owner is None or owner == threading.get_ident():
        return False
    return any(key == held for held in _in_flight["keys"].get(table_name, []))


def _taking_turns(method):
    from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException

    def in_turn(self, *args, **kwargs):
        write = _write_key(self, method.__name__, args, kwargs)
        if write is not None and conflicts(*write):
            raise DynamodbException(
                ERROR_TYPE_PREFIX + "TransactionConflictException", "Transaction is ongoing for the item"
            )
        with _turns:
            return method(self, *args, **kwargs)

    in_turn.__name__ = method.__name__
    return in_turn
