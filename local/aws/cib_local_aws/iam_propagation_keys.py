"""IAM's propagation delay for long-term access keys: what authentication and IAM's reads see
of a key while its creation, deletion or status change is pending (`iam_propagation` has the
model, `iam_propagation_delay` the delay and the journal).

Owns:
- the views: `access_key` (does a key authenticate now, as whom: `principals` asks), a
  retired key's user (`user_of_key`: GetCallerIdentity / GetUser still answer as it), a user's
  keys as ListAccessKeys shows them (`access_keys_of`);
- what CreateAccessKey, DeleteAccessKey and UpdateAccessKey change, for the journal: the thing
  ("key", account, key id), owned by ("keys", account, user id) so that a user's pending keys
  are found together; its value (key, status, user), None when it belongs to no user;
- ListAccessKeys of a named user and IAMBackend.get_user_from_access_key_id as seen now.
"""

from __future__ import annotations

from .iam_propagation_delay import LIVE, journal, view


def key_state(backend, key):
    """(key, status, user) of a key as moto holds it, None if it no longer belongs to a user."""
    user = backend.users.get(key.user_name) if key is not None and key.user_name else None
    if user is None or key not in user.access_keys:
        return None
    return key, key.status, user


# --- What authentication and IAM's reads see -------------------------------------------------------


def access_key(backend, access_key_id: str):
    """(key, user) if the long-term key authenticates now (exists as seen, Active, its user
    still there), else None."""
    state = key_state(backend, backend.access_keys.get(access_key_id))
    if journal:
        seen = journal.seen(("key", backend.account_id, access_key_id))
        if seen is not LIVE:
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
    if seen is LIVE or seen is None:
        return None
    return seen[0]


def user_of_key(backend, access_key_id: str):
    """The user a retired key (deleted, deletion not visible yet) belonged to, else None."""
    key = retired_key(backend, access_key_id)
    return backend.users.get(key.user_name) if key is not None and key.user_name else None


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
            out.append(key if key.status == status else view(key, status=status))
    return out


# --- What each change touches (for iam_propagation_delay.track / track_creation) -------------------


def _key(self, access_key_id, user_name):
    """A long-term key, found by its id (authentication) and listed under its user's id."""
    key = self.access_keys.get(access_key_id)
    owner = ("keys", self.account_id, self.get_user(user_name).id)
    return [(("key", self.account_id, access_key_id), lambda: key_state(self, key), owner)]


def _deleted_key(self, access_key_id, user_name, *_, **__):
    return _key(self, access_key_id, user_name)


def _updated_key(self, user_name, access_key_id, *_, **__):
    return _key(self, access_key_id, user_name)


def _new_key(self, key):
    user = self.users.get(key.user_name)
    owner = ("keys", self.account_id, user.id if user else None)
    return ("key", self.account_id, key.access_key_id), None, key_state(self, key), owner


TRACKED = {  # IAMBackend method → what it changes
    "delete_access_key": _deleted_key,
    "update_access_key": _updated_key,
}
CREATED = {  # IAMBackend method → the thing its result is
    "create_access_key": _new_key,
}


# --- Reads ---------------------------------------------------------------------------------------


def reads() -> dict:
    """IamResponse handlers used while something is pending (iam_propagation_delay.while_pending)."""
    from moto.core.responses import ActionResult

    def list_access_keys(self, original):
        user_name = self._get_param("UserName")
        if not user_name:
            return original(self)  # the caller's own keys: as moto finds them
        user = self.backend.get_user(user_name)
        return ActionResult({"UserName": user_name, "AccessKeyMetadata": access_keys_of(self.backend, user)})

    return {"list_access_keys": list_access_keys}


def answering_for_retired_keys(owner_of):
    """Wraps IAMBackend.get_user_from_access_key_id (GetCallerIdentity, GetUser): a retired key
    still answers as its user."""

    def get_user_from_access_key_id(self, access_key_id, _original=owner_of):
        user = _original(self, access_key_id)
        if user is None and journal:
            user = user_of_key(self, access_key_id)
        return user

    return get_user_from_access_key_id
