"""CloudTrail LookupEvents over `cloudtrail_history`, its rate limit, and its control endpoints.

moto 5.2.1 routes CloudTrail (JSON 1.1, X-Amz-Target
`com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.<Operation>`) to CloudTrailResponse,
which has no lookup_events: this module adds it, authorized like every other call (the
caller needs cloudtrail:LookupEvents). As the API reference (API_LookupEvents.html) says:
- the management events of the caller's account in the request's Region, newest first;
- LookupAttributes: at most one, AttributeKey one of AccessKeyId, EventId, EventName,
  EventSource, ReadOnly ("true" / "false"), ResourceName, ResourceType, Username (for a role
  session, its session name); more than one, another key, or a value not 1 to 2,000
  characters: InvalidLookupAttributesException;
- StartTime / EndTime (epoch seconds) both inclusive, compared with the event's second;
  StartTime after EndTime: InvalidTimeRangeException;
- MaxResults 1 to 50, default 50, else InvalidMaxResultsException; NextToken as returned
  (opaque, valid only with the same account, Region, attribute and times), anything else:
  InvalidNextTokenException. Paging walks back from where the last page ended, so events
  recorded meanwhile never shift or repeat a page;
- EventCategory "insight": no events (no Insights here); any other: InvalidEventCategoryException;
- "The rate of lookup requests is limited to two per second, per account, per Region. If
  this limit is exceeded, a throttling error occurs": HTTP 400 ThrottlingException "Rate
  exceeded". The rate is CIB_LOCAL_CLOUDTRAIL_RATE per second (default 2, 0 = no limit), a
  token bucket holding at most max(rate, 1) calls.

Control endpoints (unsigned, like the rest of moto's /moto-api; JSON bodies and answers):

    POST /moto-api/cib/cloudtrail/throttle  {"account_id": "123456789012", "calls": 3}
        the next `calls` LookupEvents calls of that account (any Region) answer
        ThrottlingException, before and besides the rate limit; 0 cancels. Replaces any
        count still pending. → 200 {"account_id", "calls"}; 400 {"message"} if malformed.
    POST /moto-api/cib/cloudtrail/reset  → 200 {"events_removed": n}: forgets every
        recorded event, pending throttle and rate limit state.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time

from .cloudtrail_history import Event, history, resource_type_and_name
from .ssm_agents import json_answer, read_json

RATE_ENV = "CIB_LOCAL_CLOUDTRAIL_RATE"
DEFAULT_RATE = 2.0
THROTTLE_PATH = "{0}/moto-api/cib/cloudtrail/throttle"
RESET_PATH = "{0}/moto-api/cib/cloudtrail/reset"
ATTRIBUTE_KEYS = ("AccessKeyId", "EventId", "EventName", "EventSource", "ReadOnly", "ResourceName", "ResourceType", "Username")
MAX_RESULTS = 50
_ACCOUNT = re.compile(r"^[0-9]{12}$")


class RateLimiter:
    """A token bucket per key: `rate` calls a second on average, at most max(rate, 1) at once."""

    def __init__(self, rate: float, clock=time.monotonic):
        if rate < 0:
            raise ValueError("the rate must be 0 (no limit) or more")
        self.rate = rate
        self.capacity = max(rate, 1.0)
        self.clock = clock
        self._lock = threading.Lock()
        self._buckets: dict = {}  # key → (tokens, when)

    def allow(self, key) -> bool:
        if self.rate == 0:
            return True
        with self._lock:
            now = self.clock()
            tokens, then = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.rate)
            allowed = tokens >= 1
            self._buckets[key] = (tokens - 1 if allowed else tokens, now)
            return allowed

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()


class ForcedThrottles:
    """Per account, how many of the next LookupEvents calls are throttled (control endpoint)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pending: dict[str, int] = {}

    def set(self, account: str, calls: int) -> None:
        with self._lock:
            self._put(account, calls)

    def take(self, account: str) -> bool:
        """True (and one fewer left) if this call must be throttled."""
        with self._lock:
            left = self._pending.get(account, 0)
            self._put(account, left - 1)
            return left > 0

    def _put(self, account: str, calls: int) -> None:
        if calls > 0:
            self._pending[account] = calls
        else:
            self._pending.pop(account, None)

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()


def rate_from_environment() -> float:
    raw = os.environ.get(RATE_ENV, "").strip()
    if not raw:
        return DEFAULT_RATE
    try:
        rate = float(raw)
    except ValueError:
        raise ValueError(f"{RATE_ENV} must be a number of calls per second (0: no limit), not {raw!r}")
    if rate < 0:
        raise ValueError(f"{RATE_ENV} must not be negative")
    return rate


limiter = RateLimiter(DEFAULT_RATE)
forced = ForcedThrottles()
_TOKEN_KEY = secrets.token_bytes(32)  # tokens are only valid for this server's life

# --- LookupEvents ----------------------------------------------------------------------------------


def _error(code: str, message: str):
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(code, message)


def _time(params: dict, name: str) -> float | None:
    value = params.get(name)
    if value is None:
        return None
    try:  # epoch seconds, as the SDKs send them; an ISO 8601 string (UTC unless it says) too
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        t = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).timestamp()
    except ValueError:
        raise _error("InvalidTimeRangeException", f"{name} is not a valid time.")


def _attribute(params: dict) -> tuple[str, str] | None:
    attributes = params.get("LookupAttributes") or []
    if not isinstance(attributes, list) or len(attributes) > 1:
        raise _error("InvalidLookupAttributesException", "You can specify at most one lookup attribute.")
    if not attributes:
        return None
    attribute = attributes[0] if isinstance(attributes[0], dict) else {}
    key, value = attribute.get("AttributeKey"), attribute.get("AttributeValue")
    if key not in ATTRIBUTE_KEYS:
        raise _error("InvalidLookupAttributesException", f"AttributeKey must be one of {', '.join(ATTRIBUTE_KEYS)}.")
    if not isinstance(value, str) or not 1 <= len(value) <= 2000:
        raise _error("InvalidLookupAttributesException", "AttributeValue must have 1 to 2000 characters.")
    return key, value


def _max_results(params: dict) -> int:
    value = params.get("MaxResults")
    if value is None:
        return MAX_RESULTS
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RESULTS:
        raise _error("InvalidMaxResultsException", f"MaxResults must be between 1 and {MAX_RESULTS}.")
    return value


def _matches(event: Event, attribute: tuple[str, str] | None) -> bool:
    if attribute is None:
        return True
    key, value = attribute
    if key in ("ResourceType", "ResourceName"):
        index = 0 if key == "ResourceType" else 1
        return any(resource_type_and_name(arn)[index] == value for arn in event.resources)
    actual = {
        "AccessKeyId": event.access_key_id,
        "EventId": event.event_id,
        "EventName": event.name,
        "EventSource": event.source,
        "ReadOnly": "true" if event.read_only else "false",
        "Username": event.username,
    }[key]
    return actual == value


def _sign(query: str, seq: int) -> str:
    return hmac.new(_TOKEN_KEY, f"{query}|{seq}".encode(), hashlib.sha256).hexdigest()[:32]


def _token(query: str, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{seq}.{_sign(query, seq)}".encode()).decode()


def _cursor(query: str, token) -> int | None:
    """The sequence number the page starts below, from a NextToken; None without one."""
    if token is None:
        return None
    try:
        seq_text, mac = base64.urlsafe_b64decode(str(token).encode()).decode().split(".")
        seq = int(seq_text)
    except Exception:
        seq, mac = -1, ""
    if seq < 0 or not hmac.compare_digest(mac, _sign(query, seq)):
        raise _error("InvalidNextTokenException", "The NextToken is not valid, or was returned for other parameters.")
    return seq


def api_event(event: Event) -> dict:
    """An Event as LookupEvents returns it (API reference, Event)."""
    return {
        "EventId": event.event_id,
        "EventName": event.name,
        "ReadOnly": "true" if event.read_only else "false",
        "AccessKeyId": event.access_key_id,
        "EventTime": int(event.time.timestamp()),
        "EventSource": event.source,
        "Username": event.username,
        "Resources": [dict(zip(("ResourceType", "ResourceName"), resource_type_and_name(arn))) for arn in event.resources],
        "CloudTrailEvent": json.dumps(event.record()),
    }


def lookup(account: str, region: str, params: dict) -> dict:
    """LookupEvents' answer for this account and Region (no throttling here)."""
    attribute = _attribute(params)
    start, end = _time(params, "StartTime"), _time(params, "EndTime")
    if start is not None and end is not None and start > end:
        raise _error("InvalidTimeRangeException", "StartTime must not be after EndTime.")
    size = _max_results(params)
    category = params.get("EventCategory")
    if category not in (None, "insight"):
        raise _error("InvalidEventCategoryException", "EventCategory must be insight.")
    query = json.dumps([account, region, attribute, start, end, category])
    below = _cursor(query, params.get("NextToken"))
    if category == "insight":
        return {"Events": []}
    found: list[Event] = []
    for event in history.newest_first(account, region):
        if below is not None and event.seq >= below:
            continue
        second = event.time.timestamp()
        if not event.management or (start is not None and second < start) or (end is not None and second > end):
            continue
        if _matches(event, attribute):
            found.append(event)
            if len(found) > size:
                break
    result: dict = {"Events": [api_event(e) for e in found[:size]]}
    if len(found) > size:
        result["NextToken"] = _token(query, found[size - 1].seq)
    return result


def lookup_events(self) -> str:
    """CloudTrailResponse.lookup_events (moto has none)."""
    account, region = self.current_account, self.region
    if forced.take(account) or not limiter.allow((account, region)):
        raise _error("ThrottlingException", "Rate exceeded")
    try:
        params = json.loads(self.body or "{}")
    except ValueError:
        params = None
    if not isinstance(params, dict):
        raise _error("SerializationException", "The request body is not a JSON object.")
    return json.dumps(lookup(account, region, params))


# --- control endpoints -----------------------------------------------------------------------------


def throttle(request, full_url, headers):
    if request.method != "POST":
        return json_answer(405, {"message": "POST {\"account_id\", \"calls\"}"})
    try:
        body = read_json(request)
        account, calls = body.get("account_id"), body.get("calls")
        if not isinstance(account, str) or not _ACCOUNT.match(account):
            raise ValueError("account_id must be 12 digits")
        if isinstance(calls, bool) or not isinstance(calls, int) or not 0 <= calls <= 1_000_000:
            raise ValueError("calls must be a whole number from 0 to 1000000")
    except ValueError as e:
        return json_answer(400, {"message": str(e)})
    forced.set(account, calls)
    return json_answer(200, {"account_id": account, "calls": calls})


def reset_all() -> int:
    forced.clear()
    limiter.reset()
    return history.clear()


def reset(request, full_url, headers):
    if request.method != "POST":
        return json_answer(405, {"message": "POST to reset"})
    return json_answer(200, {"events_removed": reset_all()})


def apply() -> None:
    global limiter
    from moto.cloudtrail.responses import CloudTrailResponse
    from moto.moto_api._internal import urls
    from moto.moto_api._internal.models import MotoAPIBackend

    limiter = RateLimiter(rate_from_environment())
    CloudTrailResponse.lookup_events = lookup_events
    urls.url_paths[THROTTLE_PATH] = throttle
    urls.url_paths[RESET_PATH] = reset

    moto_reset = MotoAPIBackend.reset

    def reset_with_throttles(self, _reset=moto_reset):
        forced.clear()
        limiter.reset()
        return _reset(self)

    MotoAPIBackend.reset = reset_with_throttles
