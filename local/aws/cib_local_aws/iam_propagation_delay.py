"""IAM's propagation delay itself: the delay D, the journal of changes pending under it, how a
change gets recorded, and the control endpoint that sets D (`iam_propagation` has the model).

Owns:
- D in milliseconds (0, off, by default): set at start by CIB_LOCAL_IAM_PROPAGATION_MS (a whole
  number from 0 to 86,400,000; anything else stops the server) and at run time through moto's
  unsigned control namespace:

      POST /moto-api/cib/iam/propagation  {"Milliseconds": 1500}
          → 200 {"Milliseconds": 1500}; 400 {"message"} if malformed. Changes already made keep
          their time; 0 turns the delay off and makes every pending change visible at once.
      GET  /moto-api/cib/iam/propagation  → 200 {"Milliseconds": D}

- the journal: per thing changed, the value seen before its pending changes and each change
  with the time it becomes visible (a monotonic clock, replaceable for tests);
- which requests are spared the delay: the free seeding ones (INITIAL_NO_AUTH_ACTION_COUNT)
  are the account's initial state;
- the wrappers that record a change around moto's own IAMBackend method (`track`,
  `track_creation`) and that let an IAM read call see the journal (`while_pending`);
- forgetting everything pending on /moto-api/reset (D stays).

What a change touches and what a read shows of it are per concern: `iam_propagation_keys`,
`iam_propagation_policies`. Nothing here imports them.
"""

from __future__ import annotations

import os
import threading
import time

from .ssm_agents import json_answer, read_json

ENV = "CIB_LOCAL_IAM_PROPAGATION_MS"
PATH = "{0}/moto-api/cib/iam/propagation"
MAX_MS = 86_400_000  # a day
LIVE = object()  # "nothing pending: what moto holds is what is seen"


def parse_milliseconds(value) -> int:
    """A delay: a whole number of milliseconds, 0 to MAX_MS (JSON number or decimal string)."""
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()):
            raise ValueError(f"must be a whole number of milliseconds from 0 to {MAX_MS}, not {value!r}")
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MS:
        raise ValueError(f"must be a whole number of milliseconds from 0 to {MAX_MS}, not {value!r}")
    return value


def from_environment() -> int:
    raw = os.environ.get(ENV)
    if raw is None or raw.strip() == "":
        return 0
    try:
        return parse_milliseconds(raw)
    except ValueError as e:
        raise ValueError(f"{ENV} {e}") from None


# --- The journal -----------------------------------------------------------------------------------


class _Pending:
    __slots__ = ("base", "changes", "owner")

    def __init__(self, base, owner: tuple) -> None:
        self.base = base  # what is seen while no change of `changes` is visible
        self.owner = owner
        self.changes: list[tuple[float, object]] = []  # (visible at, value after), in order made


class Journal:
    """Pending changes: thing → the values it took and when each becomes visible.

    A thing is a tuple whose last element names it within its owner (by default `key[:-1]`),
    e.g. ("inline", account, "user", user id, policy name). Values are what the thing holds (a
    document, a policy, None for absent...). Thread-safe; `clock` in seconds."""

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self._pending: dict[tuple, _Pending] = {}
        self._owners: dict[tuple, set[tuple]] = {}
        self._last_sweep = 0.0

    def __bool__(self) -> bool:
        return bool(self._pending)

    def __len__(self) -> int:
        return len(self._pending)

    def record(self, key: tuple, before, after, delay_ms: int, owner: tuple | None = None) -> None:
        """`key` went from `before` to `after` now; seen `delay_ms` from now. `owner` (default
        `key[:-1]`) groups things for `under`."""
        with self.lock:
            now = self.clock()
            pending = self._pending.get(key)
            if pending is None:
                if delay_ms <= 0:
                    return  # visible at once, nothing older pending: nothing to remember
                pending = self._pending[key] = _Pending(before, owner if owner is not None else key[:-1])
                self._owners.setdefault(pending.owner, set()).add(key)
            pending.changes.append((now + delay_ms / 1000.0, after))
            if len(self._pending) > 1000 and now - self._last_sweep > 1.0:
                self._last_sweep = now
                for each in list(self._pending):
                    self.seen(each)

    def seen(self, key: tuple):
        """What is seen of `key` now: a value, or LIVE when nothing is pending."""
        with self.lock:
            pending = self._pending.get(key)
            if pending is None:
                return LIVE
            now = self.clock()
            last = None
            for i, (at, _) in enumerate(pending.changes):
                if at <= now:
                    last = i  # the latest change made whose time has come wins
            if last is not None:
                pending.base = pending.changes[last][1]
                del pending.changes[: last + 1]
            if not pending.changes:
                self._forget(key)
                return LIVE
            return pending.base

    def under(self, owner: tuple) -> dict[tuple, object]:
        """Things of `owner` with something still pending → what is seen of them."""
        with self.lock:
            out = {}
            for key in list(self._owners.get(owner, ())):
                value = self.seen(key)
                if value is not LIVE:
                    out[key] = value
            return out

    def clear(self) -> None:
        with self.lock:
            self._pending.clear()
            self._owners.clear()

    def _forget(self, key: tuple) -> None:
        owner = self._pending.pop(key).owner
        keys = self._owners.get(owner)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._owners[owner]


# The server's one journal and delay. `journal` is never rebound (only cleared), so other modules
# may import it by name; `_delay_ms` is rebound, so they read it through delay_ms().
journal = Journal()
_delay_ms = 0
_local = threading.local()  # .free: the current request is one of the free seeding requests


def delay_ms() -> int:
    return _delay_ms


def set_delay_ms(milliseconds: int) -> None:
    global _delay_ms
    _delay_ms = parse_milliseconds(milliseconds)
    if _delay_ms == 0:
        journal.clear()  # off: everything made so far is visible now


def record(key: tuple, before, after, owner: tuple | None = None) -> None:
    """`key` changed now, from `before` to `after`: seen after D, or at once for the seeding."""
    journal.record(key, before, after, 0 if getattr(_local, "free", False) else _delay_ms, owner)


def noting_free_requests(authenticate):
    """Wraps moto's ActionAuthenticatorMixin._authenticate_and_authorize_action to note whether
    the request is one of the free seeding ones (moto counts them as it authenticates)."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    def _authenticate_and_authorize_action(self, iam_request_cls, resource="*", _original=authenticate):
        _local.free = ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT
        return _original(self, iam_request_cls, resource)

    return _authenticate_and_authorize_action


def forgetting_pending(moto_reset):
    """Wraps MotoAPIBackend.reset: /moto-api/reset forgets pending changes (D stays)."""

    def reset(self, _reset=moto_reset):
        journal.clear()
        return _reset(self)

    return reset


# --- Recording changes around moto's own backend methods ------------------------------------------


def track(original, locate):
    """Wraps an IAMBackend method: `locate(self, *args)` names the things it changes, as
    [(key, read, owner or None)]; each is recorded from its value before to its value after."""

    def tracked(self, *args, **kwargs):
        if not _delay_ms and not journal:
            return original(self, *args, **kwargs)
        with journal.lock:  # nobody sees the change before it is recorded
            try:
                things = locate(self, *args, **kwargs)
            except Exception:
                things = []  # moto's own call raises the proper error (NoSuchEntity...)
            before = [read() for _, read, _ in things]
            result = original(self, *args, **kwargs)
            for (key, read, owner), old in zip(things, before):
                record(key, old, read(), owner)
            return result

    tracked.__name__ = getattr(original, "__name__", "tracked")
    tracked.__wrapped__ = original
    return tracked


def track_creation(original, thing):
    """Wraps a creating IAMBackend method: `thing(self, result)` → (key, before, after, owner)."""

    def created(self, *args, **kwargs):
        if not _delay_ms and not journal:
            return original(self, *args, **kwargs)
        with journal.lock:
            result = original(self, *args, **kwargs)
            record(*thing(self, result))
            return result

    created.__name__ = getattr(original, "__name__", "created")
    created.__wrapped__ = original
    return created


def while_pending(name: str, original, handler):
    """An IamResponse read call: moto's own `original` while nothing is pending (exactly moto's
    answer and cost), else `handler(self, original)`, which answers as the journal lets it."""

    def read(self, _original=original, _handler=handler):
        if not journal:
            return _original(self)
        return _handler(self, _original)

    read.__name__ = name
    return read


# --- Shared by the views of each concern ----------------------------------------------------------


def kind(entity) -> str:
    return type(entity).__name__.lower()  # moto's User, Role, Group


def view(obj, **changes):
    """A copy of a moto model object with some attributes changed, for a response only (not
    tracked by moto, which tracks instances made through __new__)."""
    copy = object.__new__(type(obj))
    copy.__dict__.update(obj.__dict__)
    copy.__dict__.update(changes)
    return copy


# --- Control endpoint ------------------------------------------------------------------------------


def control(request, full_url, headers):
    """GET: the delay; POST {"Milliseconds": N}: set it."""
    if request.method == "GET":
        return json_answer(200, {"Milliseconds": _delay_ms})
    if request.method != "POST":
        return json_answer(405, {"message": 'POST {"Milliseconds": N}, or GET'})
    try:
        body = read_json(request)
        if "Milliseconds" not in body:
            raise ValueError("Milliseconds is required")
        milliseconds = parse_milliseconds_json(body["Milliseconds"])
    except ValueError as e:
        return json_answer(400, {"message": str(e)})
    set_delay_ms(milliseconds)
    return json_answer(200, {"Milliseconds": milliseconds})


def parse_milliseconds_json(value) -> int:
    if isinstance(value, str):  # a JSON body says a number as a number
        raise ValueError(f"Milliseconds must be a whole number from 0 to {MAX_MS}, not {value!r}")
    try:
        return parse_milliseconds(value)
    except ValueError as e:
        raise ValueError(f"Milliseconds {e}") from None
