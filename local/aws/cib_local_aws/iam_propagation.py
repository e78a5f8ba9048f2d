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

D is set at start by CIB_LOCAL_IAM_PROPAGATION_MS and at run time through
POST /moto-api/cib/iam/propagation (`iam_propagation_delay`, which owns it).

Not delayed (visible at once): creating or deleting users, groups, roles (deletion) and managed
policies themselves, group membership, tags, UpdateRole, permission boundaries, login
profiles, GetAccountAuthorizationDetails and every read not listed above. /moto-api/reset
forgets pending changes (D stays).

This module owns the model above and its wiring into moto (`apply`); the rest is split by
concern, none of which imports this module:
- `iam_propagation_delay`: D (environment, control endpoint), the journal of pending changes,
  the seeding requests spared, the wrappers that record changes and gate IAM's reads;
- `iam_propagation_keys`: access keys (authentication, GetCallerIdentity, ListAccessKeys);
- `iam_propagation_policies`: inline policies, managed attachments and default versions, trust
  policies and new roles (what authorization evaluates, and IAM's reads of them).
The views other modules use (`principals`, `enforcement`) are re-exported here, so they ask
this module what is seen now without knowing the split.
"""

from __future__ import annotations

from . import iam_propagation_delay as delay
from . import iam_propagation_keys as keys
from . import iam_propagation_policies as policies

# Re-exported: the views `principals` and `enforcement` ask, and the journal's API the tests
# drive on a fake clock (_LIVE under its old name).
from .iam_propagation_delay import LIVE as _LIVE
from .iam_propagation_delay import Journal, parse_milliseconds
from .iam_propagation_keys import access_key
from .iam_propagation_policies import attached_policies, default_document, inline_policies, role_visible, trust_policy

__all__ = [
    "Journal",
    "_LIVE",
    "access_key",
    "apply",
    "attached_policies",
    "default_document",
    "inline_policies",
    "parse_milliseconds",
    "role_visible",
    "trust_policy",
]


def apply() -> None:
    # D first: a malformed CIB_LOCAL_IAM_PROPAGATION_MS stops the server before anything is patched.
    try:
        milliseconds = delay.from_environment()
    except ValueError as e:
        raise SystemExit(f"local AWS: {e}") from None
    delay.set_delay_ms(milliseconds)

    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.models import IAMBackend
    from moto.iam.responses import IamResponse
    from moto.moto_api._internal import urls
    from moto.moto_api._internal.models import MotoAPIBackend

    urls.url_paths[delay.PATH] = delay.control

    # Which requests are the free seeding ones, whose changes are seen at once.
    ActionAuthenticatorMixin._authenticate_and_authorize_action = delay.noting_free_requests(
        ActionAuthenticatorMixin._authenticate_and_authorize_action
    )

    # Changes: recorded around moto's own backend methods, which still check and apply them at once.
    for concern in (policies, keys):
        for name, locate in concern.TRACKED.items():
            setattr(IAMBackend, name, delay.track(getattr(IAMBackend, name), locate))
        for name, thing in concern.CREATED.items():
            setattr(IAMBackend, name, delay.track_creation(getattr(IAMBackend, name), thing))

    # Who owns a key, for GetCallerIdentity / GetUser: a retired key still answers as its user.
    IAMBackend.get_user_from_access_key_id = keys.answering_for_retired_keys(IAMBackend.get_user_from_access_key_id)

    # IAM's read calls: moto's handlers unless something is pending.
    for concern in (policies, keys):
        for name, handler in concern.reads().items():
            setattr(IamResponse, name, delay.while_pending(name, getattr(IamResponse, name), handler))

    MotoAPIBackend.reset = delay.forgetting_pending(MotoAPIBackend.reset)
