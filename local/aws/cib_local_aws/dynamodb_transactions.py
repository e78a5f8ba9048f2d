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
they take turns under one lock (a transaction that would conflict waits rather than failing with
TransactionConflict; either way it then sees the other's outcome).
"""

from __future__ import annotations

import copy as _copy
import threading
from collections import defaultdict

# Which keys the running transaction touches, per table name (one transaction per thread).
_touched = threading.local()
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
            try:
                return original(self, transact_items)
            finally:
                _touched.keys = {}

    ddb.DynamoDBBackend.transact_write_items = transact_write_items
    for name in ("get_item", "put_item", "update_item", "delete_item"):
        setattr(ddb.DynamoDBBackend, name, _taking_turns(getattr(ddb.DynamoDBBackend, name)))


def _taking_turns(method):
    def in_turn(*args, **kwargs):
        with _turns:
            return method(*args, **kwargs)

    in_turn.__name__ = method.__name__
    return in_turn
