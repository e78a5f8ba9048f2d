"""Role sessions that remember what AWS remembers about them, and fast lookup of them.

moto's AssumeRole reads RoleSessionName, RoleArn, Policy, DurationSeconds and ExternalId and
forgets everything else. AWS keeps, for the life of the session, its SourceIdentity, its
session tags (and which are transitive), its session policy, and when it was issued; policies
then see those as aws:SourceIdentity, aws:PrincipalTag/..., aws:TokenIssueTime. This module
replaces moto's AssumeRole *response handler* (authorization has already run by then) so that
each session carries a `SessionInfo`, applying AWS's role-chaining rules:
- a SourceIdentity, once set, passes to every session chained from it and cannot be changed
  (id_credentials_temp_control-access_monitor.html);
- transitive session tags pass to chained sessions, stay transitive, and cannot be overridden
  by the chained request (id_session-tags.html, "Chaining roles with session tags").
The response also carries SourceIdentity, as AWS's does.

DurationSeconds, which moto takes whatever it is, is checked as AWS does, before the session is
created (API_AssumeRole.html, "DurationSeconds"):
- "Valid Range: Minimum value of 900. Maximum value of 43200": outside it, ValidationError in
  AWS's usual wording for a constraint ("1 validation error detected: Value '899' at
  'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal
  to 900"; AWS does not document the text of this one);
- "The value specified can range from 900 seconds (15 minutes) up to the maximum session
  duration set for the role. [...] If you specify a value higher than this setting or the
  administrator setting (whichever is lower), the operation fails": ValidationError "The
  requested DurationSeconds exceeds the MaxSessionDuration set for this role." (the text AWS
  answers; its pages only say the operation fails). The setting is the role's
  MaxSessionDuration, "a value from 1 hour to 12 hours. If you do not specify a value, the
  default maximum of 1 hour is applied" (id_roles_update-role-settings.html, "Update the
  maximum session duration for a role");
- "Role chaining limits your AWS CLI or AWS API role session to a maximum of one hour. [...]
  if you assume a role using role chaining and provide a DurationSeconds parameter value
  greater than one hour, the operation fails": ValidationError "The requested DurationSeconds
  exceeds the 1 hour session limit for roles assumed by role chaining." (the error quoted by
  knowledge-center/iam-role-chaining-limit; "Using the credentials for one role to assume a
  different role is called role chaining", id_roles_terms-and-concepts.html). Here a caller is
  chaining when it signs with the keys of a session AssumeRole issued.
"By default, the value is set to 3600 seconds": the limits apply to a DurationSeconds the
request gives (the pages speak of a value "you specify" / "provide"); the default never
exceeds them anyway, a role's maximum being at least an hour. The order of the checks when
several fail (range, then the role's maximum, then chaining) is not documented; authorization
has run before this handler, so a caller refused the role gets AccessDenied whatever the
duration (AWS presumably rejects an out-of-range value first, as a malformed request).

A session policy (`Policy`) whose Condition AWS cannot read (an operator it does not define,
see `policy_conditions.parse_operator`) is MalformedPolicyDocument (HTTP 400; AssumeRole's
API reference lists the error, "The request was rejected because the policy document was
malformed"), with IAM's words for it, "Syntax errors in policy." (STS's own text is not
documented). Checked with the other parameters, after authorization as above.

For tests, which cannot wait 15 minutes for a session to expire, a control endpoint (unsigned,
like the rest of moto's /moto-api; JSON body and answer) ends a session's life at once:

    POST /moto-api/cib/sts/expire  {"AccessKeyId": "ASIA..."}
        that session's credentials expire now (ExpiredToken from then on, as when its
        DurationSeconds has passed). → 200 {"AccessKeyId", "Expiration"}; 404 {"message"} for
        a key no session has; 400 {"message"} if malformed.

moto finds a session from its access key by scanning every session ever issued; `find_session`
keeps an index on each STS backend instead (append-only list, indexed incrementally, so the
index cannot go stale; a reset makes new backends and so new indexes).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from dataclasses import dataclass, field

from .policy_conditions import condition_syntax_error
from .ssm_agents import json_answer, read_json

ROLE_SESSION_NAME_MAX = 64
DURATION_MIN, DURATION_MAX = 900, 43_200  # seconds, the API's valid range
DEFAULT_DURATION = 3600
CHAINED_DURATION_MAX = 3600
ROLE_MAX_EXCEEDED = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
CHAINED_MAX_EXCEEDED = "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
EXPIRE_PATH = "{0}/moto-api/cib/sts/expire"
SOURCE_IDENTITY = re.compile(r"^[\w+=,.@-]{2,64}$")
MAX_SESSION_TAGS = 50


@dataclass
class SessionInfo:
    """What AWS keeps with a role session beyond moto's AssumedRole."""

    role_id: str | None
    issued_at: dt.datetime  # aware, UTC
    source_identity: str | None = None
    tags: dict[str, tuple[str, str]] = field(default_factory=dict)  # lower(key) → (key, value)
    transitive: set[str] = field(default_factory=set)  # lower(key)
    # Further context keys the issuer puts in every request of the session (e.g.
    # identitystore:userId for IAM Identity Center's sessions, `identity_center_portal`).
    context: dict[str, str] = field(default_factory=dict)


def info(session) -> SessionInfo | None:
    return getattr(session, "cib_info", None)


def find_session(account_id: str, partition: str, access_key_id: str):
    """The AssumedRole whose access key is `access_key_id`, in the account's STS backend."""
    from moto.sts.models import sts_backends

    try:
        backend = sts_backends[account_id][partition]
    except KeyError:
        return None
    return _lookup(backend, access_key_id)


_index_lock = threading.Lock()


def _lookup(backend, access_key_id: str):
    with _index_lock:  # the server is threaded; sessions are appended concurrently
        sessions = backend.assumed_roles
        index = backend.__dict__.get("_cib_index")
        done = backend.__dict__.get("_cib_indexed", 0)
        if index is None or done > len(sessions):  # new backend, or the list shrank: rebuild
            index, done = {}, 0
        end = len(sessions)
        for s in sessions[done:end]:
            index[s.access_key_id] = s
        backend._cib_index, backend._cib_indexed = index, end
        return index.get(access_key_id)


def _find_anywhere(access_key_id: str):
    """The AssumedRole whose access key is `access_key_id`, in any account and partition."""
    from moto.sts.models import sts_backends

    for account_backends in list(sts_backends.values()):
        for backend in list(dict.values(account_backends)):  # only the backends that exist
            session = _lookup(backend, access_key_id)
            if session is not None:
                return session
    return None


def expire(request, full_url, headers):
    """Control endpoint: the session's credentials expire now."""
    from moto.core.utils import utcnow

    if request.method != "POST":
        return json_answer(405, {"message": 'POST {"AccessKeyId"}'})
    try:
        key = read_json(request).get("AccessKeyId")
        if not isinstance(key, str) or not key:
            raise ValueError("AccessKeyId must be a session's access key id")
    except ValueError as e:
        return json_answer(400, {"message": str(e)})
    session = _find_anywhere(key)
    if session is None:
        return json_answer(404, {"message": f"no role session has the access key {key}"})
    session.expiration = min(session.expiration, utcnow())
    return json_answer(200, {"AccessKeyId": key, "Expiration": session.expiration.replace(tzinfo=dt.timezone.utc).isoformat()})


def _validation(message: str):
    from moto.sts.exceptions import STSValidationError

    return STSValidationError(message)


def _duration_in_range(duration: int) -> None:
    if duration < DURATION_MIN:
        constraint = f"greater than or equal to {DURATION_MIN}"
    elif duration > DURATION_MAX:
        constraint = f"less than or equal to {DURATION_MAX}"
    else:
        return
    raise _validation(
        f"1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy "
        f"constraint: Member must have value {constraint}"
    )


def _role_max_session_duration(role) -> int:
    """A role's MaxSessionDuration in seconds (moto keeps the request's string; unset: 1 hour)."""
    try:
        return int(role.max_session_duration or DEFAULT_DURATION)
    except (TypeError, ValueError):
        return DEFAULT_DURATION


def _request_tags(tags) -> dict[str, tuple[str, str]]:
    from moto.sts.exceptions import STSClientError

    out: dict[str, tuple[str, str]] = {}
    tags = tags or []
    if len(tags) > MAX_SESSION_TAGS:
        raise _validation(
            f"1 validation error detected: Value at 'tags' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_SESSION_TAGS}"
        )
    for t in tags:
        key, value = t.get("Key") or "", t.get("Value") or ""
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise _validation("1 validation error detected: a session tag key must have 1 to 128 characters and a value at most 256")
        if key.lower() in out:
            raise STSClientError(
                "InvalidParameterValue",
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            )
        out[key.lower()] = (key, value)
    return out


def apply() -> None:
    from moto.core.responses import ActionResult
    from moto.iam.models import iam_backends
    from moto.moto_api._internal import urls
    from moto.sts import models as sts_models
    from moto.sts.exceptions import STSClientError
    from moto.sts.responses import TokenResponse
    from moto.utilities.utils import get_partition

    # GetCallerIdentity and friends: the index instead of a scan.
    def get_assumed_role_from_access_key(self, access_key_id):
        return _lookup(self, access_key_id)

    sts_models.STSBackend.get_assumed_role_from_access_key = get_assumed_role_from_access_key
    urls.url_paths[EXPIRE_PATH] = expire

    def assume_role(self) -> ActionResult:
        role_session_name = self._get_param("RoleSessionName")
        role_arn = self._get_param("RoleArn")
        policy = self._get_param("Policy")
        requested_duration = self._get_int_param("DurationSeconds")
        duration = DEFAULT_DURATION if requested_duration is None else requested_duration
        external_id = self._get_param("ExternalId")
        source_identity = self._get_param("SourceIdentity")
        tags = _request_tags(self._get_param("Tags"))
        transitive_keys = [k for k in (self._get_param("TransitiveTagKeys") or [])]

        if role_session_name is not None and len(role_session_name) > ROLE_SESSION_NAME_MAX:
            raise _validation(
                f"1 validation error detected: Value '{role_session_name}' at 'roleSessionName' "
                f"failed to satisfy constraint: Member must have length less than or equal to {ROLE_SESSION_NAME_MAX}"
            )
        if source_identity is not None and (
            not SOURCE_IDENTITY.match(source_identity) or source_identity.lower().startswith("aws:")
        ):
            raise _validation(
                f"1 validation error detected: Value '{source_identity}' at 'sourceIdentity' failed to "
                "satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
            )
        if requested_duration is not None:
            _duration_in_range(requested_duration)
        if policy is not None and condition_syntax_error(policy):
            raise STSClientError("MalformedPolicyDocument", "Syntax errors in policy.")
        for k in transitive_keys:
            if k.lower() not in tags:
                raise STSClientError(
                    "InvalidParameterValue",
                    f"The transitive tag key {k} is not among the session tags of the request.",
                )

        # Role chaining: what the calling session passes on.
        caller = find_session(self.current_account, self.partition, self.get_access_key())
        caller_info = info(caller) if caller is not None else None
        inherited: dict[str, tuple[str, str]] = {}
        if caller_info is not None:
            if caller_info.source_identity is not None:
                if source_identity is not None and source_identity != caller_info.source_identity:
                    raise STSClientError(
                        "AccessDenied",
                        f"The source identity of the calling session ({caller_info.source_identity}) cannot be changed",
                    )
                source_identity = caller_info.source_identity
            inherited = {k: caller_info.tags[k] for k in caller_info.transitive if k in caller_info.tags}
            for k in tags:
                if k in inherited:
                    raise STSClientError(
                        "InvalidParameterValue",
                        f"The session tag {tags[k][0]} is transitive on the calling session and cannot be overridden.",
                    )

        try:
            target = iam_backends[role_arn.split(":")[4]][get_partition(self.region)].get_role_by_arn(role_arn)
        except Exception:
            target = None  # missing_role has refused a role that does not exist
        if requested_duration is not None:
            if target is not None and requested_duration > _role_max_session_duration(target):
                raise _validation(ROLE_MAX_EXCEEDED)
            if caller is not None and requested_duration > CHAINED_DURATION_MAX:
                raise _validation(CHAINED_MAX_EXCEEDED)

        role = self.backend.assume_role(
            region_name=self.region,
            role_session_name=role_session_name,
            role_arn=role_arn,
            policy=policy,
            duration=duration,
            external_id=external_id,
        )
        role_id = target.id if target is not None else None
        issued = (role.expiration - dt.timedelta(seconds=duration)).replace(tzinfo=dt.timezone.utc)
        role.cib_info = SessionInfo(
            role_id=role_id,
            issued_at=issued,
            source_identity=source_identity,
            tags={**inherited, **tags},
            transitive=set(inherited) | {k.lower() for k in transitive_keys},
        )
        result = {
            "Credentials": role,
            "AssumedRoleUser": {"AssumedRoleId": role.user_id, "Arn": role.arn},
            "PackedPolicySize": 6,
        }
        if source_identity is not None:
            result["SourceIdentity"] = source_identity
        return ActionResult(result)

    TokenResponse.assume_role = assume_role
