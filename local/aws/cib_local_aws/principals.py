"""Who signed a request: an IAM user or a role session, its policies and its context keys.

Replaces moto's `create_access_key` (moto.iam.access_control), which finds a user's key by
scanning every user of the account and a session's key by scanning every session ever issued,
and which accepts keys AWS would refuse. Here:
- a long-term key is found through the account's key index (IAMBackend.access_keys) and must
  still belong to its user and be Active (AWS: InvalidClientTokenId otherwise), as seen after
  IAM's propagation delay (`iam_propagation`, which also gives the policies callers see);
- a session is found through `sts_sessions.find_session`; an expired one is refused with
  ExpiredToken, as AWS does (moto never checks expiry);
- a session belongs to its role's unique id, as on AWS: if the role was deleted (or deleted
  and re-created under the same name) the session has no permissions left.

Each caller gives `enforcement` its identity policies, its session policy, its
`policy_eval.Principal`, and the global condition keys AWS puts in every request it makes.
"""

from __future__ import annotations

import datetime as dt

from . import iam_propagation, sts_sessions
from .policy_eval import Principal

EXPIRED = "ExpiredToken"


def iso(t: dt.datetime) -> str:
    """ISO 8601 UTC with microseconds (exact comparisons against policy dates)."""
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _managed_documents(attached) -> list[str]:
    docs = []
    for policy in attached.values():
        document = iam_propagation.default_document(policy)  # the default version, as seen now
        if document is not None:
            docs.append(document)
    return docs


def _entity_documents(entity) -> list[str]:
    """A user's, group's or role's inline and managed policies, as IAM's propagation lets
    authorization see them now (`iam_propagation`; moto's state when no delay is set)."""
    inline = iam_propagation.inline_policies(entity)
    return list(inline.values()) + _managed_documents(iam_propagation.attached_policies(entity))


def _tags_context(tags) -> dict[str, str]:
    return {f"aws:PrincipalTag/{k}": v for k, v in tags}


def _base_context(now: dt.datetime, account: str) -> dict:
    return {
        "aws:CurrentTime": iso(now),
        "aws:EpochTime": str(int(now.timestamp())),
        "aws:PrincipalAccount": account,
        "aws:PrincipalIsAWSService": "false",
        "aws:ViaAWSService": "false",
    }


def make_classes():
    """The two caller classes, subclassing moto's so that moto's own code keeps working."""
    from moto.iam import access_control as ac

    class UserCaller(ac.IAMUserAccessKey):
        kind = "User"

        def __init__(self, account_id, partition, access_key_id, headers):
            from moto.iam.models import iam_backends

            self.account_id = account_id
            self.partition = partition
            backend = iam_backends[account_id][partition]
            # The key must still belong to its user and be Active, as seen now (iam_propagation).
            found = iam_propagation.access_key(backend, access_key_id)
            if found is None:
                raise ac.CreateAccessKeyFailure(reason="InvalidId")
            key, user = found
            if "X-Amz-Security-Token" in headers:
                raise ac.CreateAccessKeyFailure(reason="InvalidToken")
            self._user = user
            self._owner_user_name = user.name
            self._access_key_id = access_key_id
            self._secret_access_key = key.secret_access_key
            self.principal = Principal(account=account_id, arn=user.arn)
            self.session_policy = None

        def identity_policies(self) -> list[str]:
            user = self._user
            docs = _entity_documents(user)
            for group in self.backend.get_groups_for_user(user.name):
                docs += _entity_documents(group)
            return docs

        def collect_policies(self):  # moto's name, in case anything else calls it
            return self.identity_policies()

        def context(self, now: dt.datetime) -> dict:
            user = self._user
            ctx = _base_context(now, self.account_id)
            ctx.update(
                {
                    "aws:PrincipalArn": user.arn,
                    "aws:PrincipalType": "User",
                    "aws:userid": user.id,
                    "aws:username": user.name,
                }
            )
            tags = self.backend.tagger.list_tags_for_resource(user.arn)["Tags"]
            ctx.update(_tags_context((t["Key"], t["Value"]) for t in tags))
            return ctx

    class SessionCaller(ac.AssumedRoleAccessKey):
        kind = "AssumedRole"

        def __init__(self, account_id, partition, access_key_id, headers):
            from moto.core.utils import utcnow

            self.account_id = account_id
            self.partition = partition
            session = sts_sessions.find_session(account_id, partition, access_key_id)
            if session is None:
                raise ac.CreateAccessKeyFailure(reason="InvalidId")
            if headers.get("X-Amz-Security-Token") != session.session_token:
                raise ac.CreateAccessKeyFailure(reason="InvalidToken")
            if utcnow() >= session.expiration:
                raise ac.CreateAccessKeyFailure(reason=EXPIRED)
            self.session = session
            self.info = sts_sessions.info(session)
            self._access_key_id = access_key_id
            self._secret_access_key = session.secret_access_key
            self._session_token = session.session_token
            self._owner_role_name = session.role_arn.split("/")[-1]
            self._session_name = session.session_name
            self.role = self._find_role()
            self.principal = Principal(
                account=account_id,
                arn=self.arn,
                role_arn=self.role.arn if self.role is not None else session.role_arn,
            )
            self.session_policy = session.policy or None

        def _find_role(self):
            if self.info is not None and self.info.role_id is not None:
                # The role the session was issued for, by unique id: gone if it was deleted.
                return self.backend.roles.get(self.info.role_id)
            try:  # a session issued without our STS patch (e.g. a free request at start)
                return self.backend.get_role_by_arn(self.session.role_arn)
            except Exception:
                return None

        @property
        def source_identity(self) -> str | None:
            return self.info.source_identity if self.info is not None else None

        def identity_policies(self) -> list[str]:
            if self.role is None:
                return []
            return _entity_documents(self.role)

        def collect_policies(self):
            return self.identity_policies()

        def context(self, now: dt.datetime) -> dict:
            role_id = self.role.id if self.role is not None else "AROAUNKNOWN"
            ctx = _base_context(now, self.account_id)
            ctx.update(
                {
                    # AWS: for a role session, aws:PrincipalArn is the role's ARN.
                    "aws:PrincipalArn": self.principal.role_arn,
                    "aws:PrincipalType": "AssumedRole",
                    "aws:userid": f"{role_id}:{self._session_name}",
                    # Temporary credentials: present and false (no MFA through AssumeRole here).
                    "aws:MultiFactorAuthPresent": "false",
                }
            )
            issued = self.info.issued_at if self.info is not None else None
            if issued is not None:
                ctx["aws:TokenIssueTime"] = iso(issued)
            tags = {t["Key"].lower(): (t["Key"], t["Value"]) for t in (self.role.tags or [])} if self.role else {}
            if self.info is not None:
                tags.update(self.info.tags)  # session tags override role tags, whatever the case
                if self.info.source_identity is not None:
                    ctx["aws:SourceIdentity"] = self.info.source_identity
            ctx.update(_tags_context(tags.values()))
            if self.info is not None:
                ctx.update(self.info.context)  # the issuer's own keys (identitystore:userId)
            return ctx

    return UserCaller, SessionCaller


def apply() -> None:
    from moto.iam import access_control as ac

    UserCaller, SessionCaller = make_classes()

    def create_access_key(account_id, partition, access_key_id, headers):
        # moto's rule for telling the two apart, kept as is.
        if access_key_id.startswith("AKIA") or "X-Amz-Security-Token" not in headers:
            return UserCaller(account_id, partition, access_key_id, headers)
        return SessionCaller(account_id, partition, access_key_id, headers)

    ac.create_access_key = create_access_key

    # An expired session: ExpiredToken, in each protocol's error format.
    from moto.s3.exceptions import S3ClientError

    from . import errors

    class S3ExpiredTokenError(S3ClientError):
        def __init__(self) -> None:
            super().__init__("ExpiredToken", "The provided token has expired.")

    def iam_expired(request):
        return errors.expired_token(request._headers)

    def s3_expired(request):
        return S3ExpiredTokenError()

    for cls, error in ((ac.IAMRequest, iam_expired), (ac.S3IAMRequest, s3_expired)):
        original = cls._raise_invalid_access_key

        def _raise_invalid_access_key(self, reason, _original=original, _error=error):
            if reason == EXPIRED:
                raise _error(self)
            return _original(self, reason)

        cls._raise_invalid_access_key = _raise_invalid_access_key
