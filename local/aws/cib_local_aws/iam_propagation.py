"""IAM's propagation delay (eventual consistency): a change becomes visible some time after it
was made, not at once.

AWS (IAM User Guide, troubleshoot_general.html#troubleshoot_general_eventual-consistency,
"Changes that I make are not always immediately visible"): "IAM uses a distributed computing
model called eventual consistency. Any change that you make in IAM (or other AWS services)
takes time to become visible from all possible endpoints [...] IAM also uses caching to
improve performance, but in some cases this can add time: The change might not be visible
until the previously cached data times out." Such changes "include creating or updating
users, groups, roles, or policies"; applications should "verify that the changes have been
propagated before production workflows depend on them" (also intro.html, "Eventually
Consistent": "If a request to change some data is successful, the change is committed and
safely stored. However, the change must be replicated across IAM, which can take some time").
moto applies every change at once, so a broker that uses a key, a policy or a role the moment
IAM answers (or that trusts a revocation to bite at once) would pass here and fail on AWS.

Model: a delay D in milliseconds, 0 (off) by default. A change made while D > 0 becomes
visible D ms after it was made; until then authorization and IAM's read calls see the state
before it. Delayed:
- access keys: a key CreateAccessKey made is unknown (InvalidClientTokenId, as `principals`
  refuses unknown keys); a key deleted (DeleteAccessKey) or deactivated (UpdateAccessKey) keeps
  working, as its user, GetCallerIdentity included; ListAccessKeys lists the previous state;
- inline policies of users, roles and groups (Put/Delete{User,Role,Group}Policy): evaluation
  and Get{User,Role,Group}Policy / List{User,Role,Group}Policies see the previous document, or
  its absence;
- managed policy attachments (Attach/Detach{User,Role,Group}Policy): evaluation and
  ListAttached{User,Role,Group}Policies see the previous attachments;
- a managed policy's default version (CreatePolicyVersion with SetAsDefault,
  SetDefaultPolicyVersion): evaluation sees the previous default document (even if that version
  has since been deleted), GetPolicy its DefaultVersionId, GetPolicyVersion and
  ListPolicyVersions its IsDefaultVersion;
- trust policies: a role CreateRole made cannot be assumed (AccessDenied, as for a role that
  does not exist); UpdateAssumeRolePolicy's document is neither evaluated by AssumeRole nor
  returned by GetRole / ListRoles.
Several changes to the same thing: each becomes visible at its own time, in order; what is
visible is the latest change whose time has come (so a change made with D = 0 is visible at
once, and hides older ones still pending). Changes made while D = 0 with nothing pending are
not recorded at all: behaviour and cost are exactly those of moto without this module.
Requests that change IAM are checked and applied at once as before (quotas, conflicts,
NoSuchEntity): only what is *seen* lags. The seeding free requests (INITIAL_NO_AUTH_ACTION_COUNT)
are the account's initial state: their changes are visible at once, whatever D.

D is set at start by CIB_LOCAL_IAM_PROPAGATION_MS (a whole number from 0 to 86,400,000;
anything else stops the server) and at run time through moto's unsigned control namespace:

    POST /moto-api/cib/iam/propagation  {"Milliseconds": 1500}
        → 200 {"Milliseconds": 1500}; 400 {"message"} if malformed. Changes already made keep
        their time; 0 turns the delay off and makes every pending change visible at once.
    GET  /moto-api/cib/iam/propagation  → 200 {"Milliseconds": D}

Not delayed (visible at once): creating or deleting users, groups, roles (deletion) and managed
policies themselves, group membership, tags, UpdateRole, permission boundaries, login
profiles, GetAccountAuthorizationDetails and every read not listed above. /moto-api/reset
forgets pending changes (D stays).
"""

from __future__ import annotations

import os
import threading
import time

from .ssm_agents import json_answer, read_json

ENV = "CIB_LOCAL_IAM_PROPAGATION_MS"
PATH = "{0}/moto-api/cib/iam/propagation"
MAX_MS = 86_400_000  # a day
_LIVE = object()  # "nothing pending: what moto holds is what is seen"


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
        """What is seen of `key` now: a value, or _LIVE when nothing is pending."""
        with self.lock:
            pending = self._pending.get(key)
            if pending is None:
                return _LIVE
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
                return _LIVE
            return pending.base

    def under(self, owner: tuple) -> dict[tuple, object]:
        """Things of `owner` with something still pending → what is seen of them."""
        with self.lock:
            out = {}
            for key in list(self._owners.get(owner, ())):
                value = self.seen(key)
                if value is not _LIVE:
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


def _record(key: tuple, before, after, owner: tuple | None = None) -> None:
    journal.record(key, before, after, 0 if getattr(_local, "free", False) else _delay_ms, owner)


def _kind(entity) -> str:
    return type(entity).__name__.lower()  # moto's User, Role, Group


# --- What authorization and IAM's reads see ------------------------------------------------------


def inline_policies(entity) -> dict[str, str]:
    """A user's, role's or group's inline policies as seen now (name → document). Read only."""
    live = entity.policies
    if not journal:
        return live
    seen = journal.under(("inline", entity.account_id, _kind(entity), entity.id))
    if not seen:
        return live
    out = dict(live)
    for key, document in seen.items():
        if document is None:
            out.pop(key[-1], None)
        else:
            out[key[-1]] = document
    return out


def attached_policies(entity) -> dict:
    """A user's, role's or group's attached managed policies as seen now (ARN → policy)."""
    live = entity.managed_policies
    if not journal:
        return live
    seen = journal.under(("attached", entity.account_id, _kind(entity), entity.id))
    if not seen:
        return live
    out = dict(live)
    for key, policy in seen.items():
        if policy is None:
            out.pop(key[-1], None)
        else:
            out[key[-1]] = policy
    return out


def _default_of(policy) -> tuple[str, str] | None:
    for version in policy.versions:
        if version.is_default:
            return version.version_id, version.document
    return None


def _default_seen(policy) -> tuple[str, str] | None:
    if journal:
        seen = journal.seen(("default", policy.account_id, policy.id))
        if seen is not _LIVE:
            return seen
    return _default_of(policy)


def default_document(policy) -> str | None:
    """The document of a managed policy's default version as seen now."""
    default = _default_seen(policy)
    return default[1] if default is not None else None


def trust_policy(role) -> str:
    """A role's trust policy as seen now."""
    if journal:
        seen = journal.seen(("trust", role.account_id, role.id))
        if seen is not _LIVE:
            return seen
    return role.assume_role_policy_document


def role_visible(role) -> bool:
    """False while the role's creation has not reached STS yet."""
    if journal:
        seen = journal.seen(("role", role.account_id, role.id))
        if seen is not _LIVE:
            return bool(seen)
    return True


def _key_state(backend, key):
    """(key, status, user) of a key as moto holds it, None if it no longer belongs to a user."""
    user = backend.users.get(key.user_name) if key is not None and key.user_name else None
    if user is None or key not in user.access_keys:
        return None
    return key, key.status, user


def access_key(backend, access_key_id: str):
    """(key, user) if the long-term key authenticates now (exists as seen, Active, its user
    still there), else None."""
    state = _key_state(backend, backend.access_keys.get(access_key_id))
    if journal:
        seen = journal.seen(("key", backend.account_id, access_key_id))
        if seen is not _LIVE:
            state = seen
    if state is None:
        return None
    key, status, user = state
    if status != "Active" or backend.users.get(user.name) is not user:
        return None
    return key, user


def retired_key(backend, access_key_id: str):
    """A key deleted whose deletion is not visible yet (moto has forgotten it), else None."""
    if not journal or access_key_id in backend.access_keys:
        return None
    seen = journal.seen(("key", backend.account_id, access_key_id))
    if seen is _LIVE or seen is None:
        return None
    return seen[0]


def user_of_key(backend, access_key_id: str):
    """The user a retired key (deleted, deletion not visible yet) belonged to, else None."""
    key = retired_key(backend, access_key_id)
    return backend.users.get(key.user_name) if key is not None and key.user_name else None


def _view(obj, **changes):
    """A copy of a moto model object with some attributes changed, for a response only (not
    tracked by moto, which tracks instances made through __new__)."""
    view = object.__new__(type(obj))
    view.__dict__.update(obj.__dict__)
    view.__dict__.update(changes)
    return view


def access_keys_of(backend, user) -> list:
    """ListAccessKeys as seen now."""
    live = list(user.access_keys)
    if not journal:
        return live
    seen = journal.under(("keys", backend.account_id, user.id))
    if not seen:
        return live
    by_id = {key[-1]: state for key, state in seen.items()}
    out = []
    for key in live:
        if key.access_key_id not in by_id:
            out.append(key)
    for key_id, state in by_id.items():
        if state is not None:
            key, status, _ = state
            out.append(key if key.status == status else _view(key, status=status))
    return out


# --- Changes: recorded around moto's own backend methods -------------------------------------------


def _tracked(original, locate):
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
                _record(key, old, read(), owner)
            return result

    tracked.__name__ = getattr(original, "__name__", "tracked")
    tracked.__wrapped__ = original
    return tracked


def _inline(getter):
    def locate(self, entity_name, policy_name, *_, **__):
        entity = getattr(self, getter)(entity_name)
        key = ("inline", self.account_id, _kind(entity), entity.id, policy_name)
        return [(key, lambda: entity.policies.get(policy_name), None)]

    return locate


def _attachment(getter):
    def locate(self, policy_arn, entity_name, *_, **__):
        entity = getattr(self, getter)(entity_name)
        key = ("attached", self.account_id, _kind(entity), entity.id, policy_arn)
        return [(key, lambda: entity.managed_policies.get(policy_arn), None)]

    return locate


def _default_version(self, policy_arn, *_, **__):
    policy = self.get_policy(policy_arn)
    return [(("default", self.account_id, policy.id), lambda: _default_of(policy), None)]


def _new_default_version(self, policy_arn, policy_document, set_as_default, *_, **__):
    return _default_version(self, policy_arn) if set_as_default else []


def _trust(self, role_name, *_, **__):
    role = self.get_role(role_name)
    return [(("trust", self.account_id, role.id), lambda: role.assume_role_policy_document, None)]


def _key(self, access_key_id, user_name):
    """A long-term key, found by its id (authentication) and listed under its user's id."""
    key = self.access_keys.get(access_key_id)
    owner = ("keys", self.account_id, self.get_user(user_name).id)
    return [(("key", self.account_id, access_key_id), lambda: _key_state(self, key), owner)]


def _deleted_key(self, access_key_id, user_name, *_, **__):
    return _key(self, access_key_id, user_name)


def _updated_key(self, user_name, access_key_id, *_, **__):
    return _key(self, access_key_id, user_name)


def _created(original, thing):
    """Wraps a creating IAMBackend method: `thing(self, result)` → (key, before, after, owner)."""

    def created(self, *args, **kwargs):
        if not _delay_ms and not journal:
            return original(self, *args, **kwargs)
        with journal.lock:
            result = original(self, *args, **kwargs)
            _record(*thing(self, result))
            return result

    created.__name__ = getattr(original, "__name__", "created")
    created.__wrapped__ = original
    return created


def _new_key(self, key):
    user = self.users.get(key.user_name)
    owner = ("keys", self.account_id, user.id if user else None)
    return ("key", self.account_id, key.access_key_id), None, _key_state(self, key), owner


def _new_role(self, role):
    return ("role", self.account_id, role.id), False, True, None


# --- IAM's read calls: moto's handlers unless something is pending -------------------------------


def _reads():
    from moto.core.responses import ActionResult
    from moto.iam.exceptions import NotFoundException

    def get_inline(getter, entity_param, answer_name, missing):
        def handler(self, original):
            entity = getattr(self.backend, getter)(self._get_param(entity_param))
            name = self._get_param("PolicyName")
            document = inline_policies(entity).get(name)
            if document is None:
                raise NotFoundException(missing(name, entity.name))
            return ActionResult({answer_name: entity.name, "PolicyName": name, "PolicyDocument": document})

        return handler

    def list_inline(getter, entity_param, truncated):
        def handler(self, original):
            entity = getattr(self.backend, getter)(self._get_param(entity_param))
            result = {"PolicyNames": list(inline_policies(entity))}
            if truncated:
                result["IsTruncated"] = False
            return ActionResult(result)

        return handler

    def list_attached(getter, entity_param):
        def handler(self, original):
            entity = getattr(self.backend, getter)(self._get_param(entity_param))
            policies, marker = self.backend._filter_attached_policies(
                list(attached_policies(entity).values()),
                self._get_param("Marker"),
                self._get_int_param("MaxItems", 100),
                self._get_param("PathPrefix", "/"),
            )
            return ActionResult(
                {
                    "AttachedPolicies": [{"PolicyName": p.name, "PolicyArn": p.arn} for p in policies],
                    "Marker": marker,
                    "IsTruncated": bool(marker),
                }
            )

        return handler

    def seen_default_id(policy) -> str | None:
        default = _default_seen(policy)
        return default[0] if default is not None else None

    def version_view(policy, version):
        is_default = version.version_id == seen_default_id(policy)
        return version if version.is_default == is_default else _view(version, is_default=is_default)

    def get_policy(self, original):
        policy = self.backend.get_policy(self._get_param("PolicyArn"))
        default_id = seen_default_id(policy)
        if default_id is None or default_id == policy.default_version_id:
            return original(self)
        return ActionResult({"Policy": _view(policy, default_version_id=default_id)})

    def get_policy_version(self, original):
        arn = self._get_param("PolicyArn")
        version = self.backend.get_policy_version(arn, self._get_param("VersionId"))
        return ActionResult({"PolicyVersion": version_view(self.backend.get_policy(arn), version)})

    def list_policy_versions(self, original):
        arn = self._get_param("PolicyArn")
        policy = self.backend.get_policy(arn)
        versions = self.backend.list_policy_versions(arn)
        return ActionResult({"Versions": [version_view(policy, v) for v in versions]})

    def role_view(role):
        document = trust_policy(role)
        return role if document is role.assume_role_policy_document else _view(role, assume_role_policy_document=document)

    def get_role(self, original):
        role = self.backend.get_role(self._get_param("RoleName"))
        return ActionResult({"Role": role_view(role)})

    def list_roles(self, original):
        roles, marker = self.backend.list_roles(
            self._get_param("PathPrefix", "/"), self._get_param("Marker", "0"), self._get_param("MaxItems", 100)
        )
        return ActionResult({"Roles": [role_view(r) for r in roles], "IsTruncated": bool(marker), "Marker": marker})

    def list_access_keys(self, original):
        user_name = self._get_param("UserName")
        if not user_name:
            return original(self)  # the caller's own keys: as moto finds them
        user = self.backend.get_user(user_name)
        return ActionResult({"UserName": user_name, "AccessKeyMetadata": access_keys_of(self.backend, user)})

    return {
        "get_user_policy": get_inline("get_user", "UserName", "UserName", lambda n, _: f"Policy {n} not found"),
        "get_group_policy": get_inline("get_group", "GroupName", "GroupName", lambda n, _: f"Policy {n} not found"),
        "get_role_policy": get_inline(
            "get_role", "RoleName", "RoleName", lambda n, e: f"Policy Document {n} not attached to role {e}"
        ),
        "list_user_policies": list_inline("get_user", "UserName", True),
        "list_role_policies": list_inline("get_role", "RoleName", True),
        "list_group_policies": list_inline("get_group", "GroupName", False),
        "list_attached_user_policies": list_attached("get_user", "UserName"),
        "list_attached_role_policies": list_attached("get_role", "RoleName"),
        "list_attached_group_policies": list_attached("get_group", "GroupName"),
        "get_policy": get_policy,
        "get_policy_version": get_policy_version,
        "list_policy_versions": list_policy_versions,
        "get_role": get_role,
        "list_roles": list_roles,
        "list_access_keys": list_access_keys,
    }


# --- Control endpoint ---------------------------------------------------------------------------


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


def apply() -> None:
    try:
        milliseconds = from_environment()
    except ValueError as e:
        raise SystemExit(f"local AWS: {e}") from None
    set_delay_ms(milliseconds)

    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.models import IAMBackend
    from moto.iam.responses import IamResponse
    from moto.moto_api._internal import urls
    from moto.moto_api._internal.models import MotoAPIBackend

    urls.url_paths[PATH] = control

    # Which requests are the free seeding ones (moto counts them as it authenticates).
    authenticate = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def _authenticate_and_authorize_action(self, iam_request_cls, resource="*", _original=authenticate):
        _local.free = ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT
        return _original(self, iam_request_cls, resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = _authenticate_and_authorize_action

    tracked = {
        "put_user_policy": _inline("get_user"),
        "delete_user_policy": _inline("get_user"),
        "put_role_policy": _inline("get_role"),
        "delete_role_policy": _inline("get_role"),
        "put_group_policy": _inline("get_group"),
        "delete_group_policy": _inline("get_group"),
        "attach_user_policy": _attachment("get_user"),
        "detach_user_policy": _attachment("get_user"),
        "attach_role_policy": _attachment("get_role"),
        "detach_role_policy": _attachment("get_role"),
        "attach_group_policy": _attachment("get_group"),
        "detach_group_policy": _attachment("get_group"),
        "create_policy_version": _new_default_version,
        "set_default_policy_version": _default_version,
        "update_assume_role_policy": _trust,
        "delete_access_key": _deleted_key,
        "update_access_key": _updated_key,
    }
    for name, locate in tracked.items():
        setattr(IAMBackend, name, _tracked(getattr(IAMBackend, name), locate))
    IAMBackend.create_access_key = _created(IAMBackend.create_access_key, _new_key)
    IAMBackend.create_role = _created(IAMBackend.create_role, _new_role)

    # Who owns a key, for GetCallerIdentity / GetUser: a retired key still answers as its user.
    owner_of = IAMBackend.get_user_from_access_key_id

    def get_user_from_access_key_id(self, access_key_id, _original=owner_of):
        user = _original(self, access_key_id)
        if user is None and journal:
            user = user_of_key(self, access_key_id)
        return user

    IAMBackend.get_user_from_access_key_id = get_user_from_access_key_id

    for name, handler in _reads().items():
        original = getattr(IamResponse, name)

        def read(self, _original=original, _handler=handler):
            if not journal:
                return _original(self)
            return _handler(self, _original)

        read.__name__ = name
        setattr(IamResponse, name, read)

    moto_reset = MotoAPIBackend.reset

    def reset(self, _reset=moto_reset):
        journal.clear()
        return _reset(self)

    MotoAPIBackend.reset = reset
