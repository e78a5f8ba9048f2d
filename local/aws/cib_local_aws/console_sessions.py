"""Console sessions: what the AWS Management Console (and CloudShell inside it) does with credentials.

Two ways into the console keep working after the credentials that opened them, and the broker
must revoke both with deny policies, so tests must be able to play them:

- A custom identity broker turns role credentials into a console session: getSigninToken on the
  federation endpoint, then `Action=login` with the token ("Enable custom identity broker access
  to the AWS console", id_roles_providers_enable-console-custom-url.html). "The `SessionDuration`
  HTTP parameter specifies the duration of the console session. This is separate from the
  duration of the temporary credentials that you specify using the `DurationSeconds` parameter"
  (also API_AssumeRole.html: "The DurationSeconds parameter is separate from the duration of a
  console session that you might request using the returned credentials"); its range is "from
  900 seconds (15 minutes) to 43200 seconds (12 hours)"; "If the `SessionDuration` parameter is
  missing, then the session defaults to the duration of the credentials that you retrieved from
  AWS STS [...] (which defaults to one hour)": here the credentials' DurationSeconds (expiry
  minus issue time), 3600 for a session issued without `sts_sessions`' record. The URL with the
  token "is valid for 15 minutes from the time it is created" (the token is the URL's only
  secret; AWS's samples: "This URL must be used within 15 minutes after the sign-in token was
  issued"), and it signs in once. The console session then lasts SessionDuration from the
  login, whatever the credentials' own expiry.
- An IAM user signs in with a password (the login profile, CreateLoginProfile). AWS's console
  FAQ: "a login session will expire in 12 hours when you sign into the AWS Management Console
  with your AWS or IAM account credentials" (quoted at 9to5answer.com/aws-console-session-timeout;
  the CLI's console login, cli-configure-sign-in.html, likewise refreshes "for up to 12 hours").
  A wrong password, an unknown user or one with no password: 400 "Failed authentication", the
  errorMessage of a failed ConsoleLogin event ("Example sign-in events in CloudTrail log",
  IAM User Guide cloudtrail-integration.html; "AWS Management Console sign-in events",
  CloudTrail User Guide). Changing or deleting the password later does not end a console
  session already open (AWS documents nothing either way; sessions are not re-checked).

Inside a console, CloudShell "comes pre-authenticated with your console credentials [...] the
AWS credentials you used to sign in to the console are automatically available in a new shell
session" (Amazon Keyspaces guide, using-aws-with-cloudshell.html), and `aws configure
export-credentials` prints them (AWS CLI reference, configure/export-credentials.html): fresh
temporary credentials (ASIA...) valid until the console session ends. Requests signed with them
act as the console's principal:
- from a role console, the same role session: a new moto AssumedRole with the same role ARN,
  session name (so the same aws:userid `<role id>:<session name>`), inline session policy and
  external id, and a copy of the original session's `sts_sessions.SessionInfo` (role unique id:
  a deleted or re-created role leaves them nothing; SourceIdentity; session tags and transitive
  keys; aws:TokenIssueTime = the ORIGINAL credentials' issue time), expiring when the console
  does. Being an AssumedRole, `principals`, `enforcement`, GetCallerIdentity, role chaining
  (SourceIdentity carried, one-hour limit), the expire endpoint and `cloudtrail_history`
  (AssumedRole) treat them as they treat the original session's credentials;
- from an IAM user's console, the user: `ConsoleUserCaller` (a `principals` UserCaller: the
  user's policies, aws:userid, aws:username, aws:PrincipalType User, aws:PrincipalArn, user tags)
  plus aws:TokenIssueTime = the sign-in time and aws:MultiFactorAuthPresent false, as for any
  temporary credentials ("This key is included in the request context only when the principal
  uses temporary credentials to make the request", aws:TokenIssueTime,
  reference_policies_condition-keys.html; so long-term access keys never carry it). The key is
  registered in the account's IAM key index (as STS keys are), so moto finds the account; a
  deleted (or deleted and re-created) user's credentials are refused with
  InvalidClientTokenId, expired ones with ExpiredToken; GetCallerIdentity answers the user;
  `cloudtrail_history` records them as IAMUser (`identify` below, with sessionContext).

Control endpoints (unsigned, under moto's /moto-api like the rest; JSON in, JSON out; errors
`{"message"}`):

    POST /moto-api/cib/federation/signin-token
        {"sessionId", "sessionKey", "sessionToken", "SessionDuration"?}: getSigninToken. The
        credentials must be a live role session with exactly that secret and token (400
        otherwise); SessionDuration an integer (or numeric string) 900..43200 (400 otherwise).
        → 200 {"SigninToken"} (opaque, unguessable; one login within 15 minutes).
    POST /moto-api/cib/console/login {"SigninToken"}
        → 200 {"ConsoleSessionId", "Expiration"}; 400 for an unknown, used or stale token.
    POST /moto-api/cib/console/user-login {"AccountId", "UserName", "Password"}
        → 200 {"ConsoleSessionId", "Expiration"} (12 hours); 400 "Failed authentication".
    POST /moto-api/cib/console/export-credentials {"ConsoleSessionId"}
        → 200 {"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}; 404 for an
        unknown console session, 400 for one that has ended. Any number of exports.
    POST /moto-api/cib/console/expire {"ConsoleSessionId"}  (tests only)
        the console session reaches its end now, and so do the credentials exported from it
        (their expiry was its end). → 200 {"ConsoleSessionId", "Expiration"}; 404 unknown.

Times are ISO 8601 UTC. The store's clock (`store.now`) is injectable for tests; consoles and
tokens live in memory until moto's reset.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import Callable

from . import principals, sts_sessions
from .policy_eval import Principal
from .ssm_agents import json_answer, read_json

SIGNIN_TOKEN_PATH = "{0}/moto-api/cib/federation/signin-token"
LOGIN_PATH = "{0}/moto-api/cib/console/login"
USER_LOGIN_PATH = "{0}/moto-api/cib/console/user-login"
EXPORT_PATH = "{0}/moto-api/cib/console/export-credentials"
EXPIRE_PATH = "{0}/moto-api/cib/console/expire"

SESSION_DURATION_MIN, SESSION_DURATION_MAX = 900, 43_200  # seconds (getSigninToken's SessionDuration)
DEFAULT_CREDENTIALS_DURATION = 3600  # AssumeRole's default, for a session without our record
SIGNIN_TOKEN_LIFETIME = dt.timedelta(minutes=15)
USER_CONSOLE_DURATION = dt.timedelta(hours=12)
FAILED_AUTHENTICATION = "Failed authentication"
PARTITION = "aws"  # IAM users sign in to the commercial partition's console here
_ACCOUNT = re.compile(r"^\d{12}$")
_DIGITS = re.compile(r"^[0-9]{1,9}$")


class Refused(Exception):
    """A control request refused: HTTP status and message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).isoformat()


def naive(t: dt.datetime) -> dt.datetime:
    """moto keeps expirations as naive UTC."""
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None)


@dataclass
class Console:
    console_id: str
    account: str
    partition: str
    started: dt.datetime  # aware UTC
    expires: dt.datetime
    role_session: object | None = None  # the AssumedRole the sign-in token was made from
    user_name: str | None = None
    user_id: str | None = None
    exported: list[str] = field(default_factory=list)  # access key ids


@dataclass
class _SigninToken:
    issued: dt.datetime
    role_session: object
    account: str
    partition: str
    duration: int  # seconds


@dataclass
class UserCredentials:
    """Temporary credentials exported from an IAM user's console."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    account: str
    partition: str
    user_name: str
    user_id: str
    issued_at: dt.datetime  # the console sign-in: aws:TokenIssueTime
    expires: dt.datetime
    console_id: str


class Store:
    """Sign-in tokens, console sessions and users' exported credentials; thread-safe."""

    def __init__(self, now: Callable[[], dt.datetime] = _utc_now):
        self.now = now
        self._lock = threading.Lock()
        self._tokens: dict[str, _SigninToken] = {}
        self._consoles: dict[str, Console] = {}
        self._user_credentials: dict[str, UserCredentials] = {}

    def issue_token(self, role_session, account: str, partition: str, duration: int) -> str:
        if not SESSION_DURATION_MIN <= duration <= SESSION_DURATION_MAX:
            raise Refused(400, f"SessionDuration must be from {SESSION_DURATION_MIN} to {SESSION_DURATION_MAX} seconds")
        token = secrets.token_urlsafe(48)
        with self._lock:
            now = self.now()
            for stale in [t for t, v in self._tokens.items() if now - v.issued > SIGNIN_TOKEN_LIFETIME]:
                del self._tokens[stale]
            self._tokens[token] = _SigninToken(now, role_session, account, partition, duration)
        return token

    def redeem(self, token: str) -> Console:
        """Action=login: one use, within 15 minutes of the token's issue."""
        with self._lock:
            pending = self._tokens.pop(token, None)
            now = self.now()
            if pending is None:
                raise Refused(400, "the sign-in token is not valid (unknown, or already used)")
            if now - pending.issued > SIGNIN_TOKEN_LIFETIME:
                raise Refused(400, "the sign-in token has expired (valid for 15 minutes after it is issued)")
            console = Console(
                console_id=_console_id(),
                account=pending.account,
                partition=pending.partition,
                started=now,
                expires=now + dt.timedelta(seconds=pending.duration),
                role_session=pending.role_session,
            )
            self._consoles[console.console_id] = console
            return console

    def open_user_console(self, account: str, partition: str, user_name: str, user_id: str) -> Console:
        with self._lock:
            now = self.now()
            console = Console(_console_id(), account, partition, now, now + USER_CONSOLE_DURATION, user_name=user_name, user_id=user_id)
            self._consoles[console.console_id] = console
            return console

    def live_console(self, console_id: str) -> Console:
        with self._lock:
            console = self._consoles.get(console_id)
            if console is None:
                raise Refused(404, f"no console session {console_id}")
            if self.now() >= console.expires:
                raise Refused(400, f"the console session {console_id} ended at {iso(console.expires)}")
            return console

    def end(self, console_id: str) -> Console:
        """The console session reaches its end now (tests)."""
        with self._lock:
            console = self._consoles.get(console_id)
            if console is None:
                raise Refused(404, f"no console session {console_id}")
            now = self.now()
            console.expires = min(console.expires, now)
            for key in console.exported:
                creds = self._user_credentials.get(key)
                if creds is not None:
                    creds.expires = min(creds.expires, now)
            return console

    def add_exported(self, console: Console, access_key_id: str, user_credentials: UserCredentials | None = None) -> None:
        with self._lock:
            console.exported.append(access_key_id)
            if user_credentials is not None:
                self._user_credentials[access_key_id] = user_credentials

    def user_credentials(self, access_key_id: str) -> UserCredentials | None:
        with self._lock:
            return self._user_credentials.get(access_key_id)

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()
            self._consoles.clear()
            self._user_credentials.clear()


def _console_id() -> str:
    return "console-" + secrets.token_hex(16)


store = Store()


# --- the control endpoints ------------------------------------------------------------------------


def _string(body: dict, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise Refused(400, f"{name} must be a non-empty string")
    return value


def session_duration(value) -> int | None:
    """SessionDuration as given: an integer or a string of digits; None when absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise Refused(400, "SessionDuration must be a whole number of seconds")
    if isinstance(value, str):
        if not _DIGITS.match(value):
            raise Refused(400, "SessionDuration must be a whole number of seconds")
        value = int(value)
    if not SESSION_DURATION_MIN <= value <= SESSION_DURATION_MAX:
        raise Refused(400, f"SessionDuration must be from {SESSION_DURATION_MIN} to {SESSION_DURATION_MAX} seconds")
    return value


def _credentials_duration(session) -> int:
    """The DurationSeconds the role credentials were issued for (getSigninToken's default)."""
    info = sts_sessions.info(session)
    if info is None:
        return DEFAULT_CREDENTIALS_DURATION
    seconds = round((session.expiration - naive(info.issued_at)).total_seconds())
    return min(max(seconds, SESSION_DURATION_MIN), SESSION_DURATION_MAX)


def _control(handler):
    """POST, JSON body; Refused → its status and {"message"}."""

    def endpoint(request, full_url, headers):
        if request.method != "POST":
            return json_answer(405, {"message": f"POST {handler.__doc__.splitlines()[0]}"})
        try:
            return json_answer(200, handler(read_json(request)))
        except Refused as e:
            return json_answer(e.status, {"message": e.message})
        except ValueError as e:  # read_json: not a JSON object
            return json_answer(400, {"message": str(e)})

    return endpoint


def signin_token(body: dict) -> dict:
    """{"sessionId", "sessionKey", "sessionToken", "SessionDuration"?}"""
    key_id, secret, token = _string(body, "sessionId"), _string(body, "sessionKey"), _string(body, "sessionToken")
    duration = session_duration(body.get("SessionDuration"))
    session = sts_sessions._find_anywhere(key_id)
    if (
        session is None
        or not secrets.compare_digest(session.secret_access_key.encode(), secret.encode())
        or not secrets.compare_digest(session.session_token.encode(), token.encode())
    ):
        raise Refused(400, "the session credentials are not valid role session credentials")
    if naive(store.now()) >= session.expiration:
        raise Refused(400, "the session credentials have expired")
    if duration is None:
        duration = _credentials_duration(session)
    return {"SigninToken": store.issue_token(session, session.account_id, session.partition, duration)}


def login(body: dict) -> dict:
    """{"SigninToken"}"""
    console = store.redeem(_string(body, "SigninToken"))
    return {"ConsoleSessionId": console.console_id, "Expiration": iso(console.expires)}


def user_login(body: dict) -> dict:
    """{"AccountId", "UserName", "Password"}"""
    from moto.iam.models import iam_backends

    account, name, password = _string(body, "AccountId"), _string(body, "UserName"), _string(body, "Password")
    if not _ACCOUNT.match(account):
        raise Refused(400, "AccountId must be 12 digits")
    user = iam_backends[account][PARTITION].users.get(name)
    stored = getattr(user, "password", None)
    if not stored or not secrets.compare_digest(stored.encode(), password.encode()):
        raise Refused(400, FAILED_AUTHENTICATION)
    console = store.open_user_console(account, PARTITION, user.name, user.id)
    return {"ConsoleSessionId": console.console_id, "Expiration": iso(console.expires)}


def export_credentials(body: dict) -> dict:
    """{"ConsoleSessionId"}"""
    console = store.live_console(_string(body, "ConsoleSessionId"))
    if console.role_session is not None:
        key_id, secret, token = _export_role_session(console)
        store.add_exported(console, key_id)
    else:
        creds = _export_user_credentials(console)
        key_id, secret, token = creds.access_key_id, creds.secret_access_key, creds.session_token
        store.add_exported(console, key_id, creds)
    return {"AccessKeyId": key_id, "SecretAccessKey": secret, "SessionToken": token, "Expiration": iso(console.expires)}


def expire(body: dict) -> dict:
    """{"ConsoleSessionId"}"""
    console = store.end(_string(body, "ConsoleSessionId"))
    if console.role_session is not None:
        for key in console.exported:
            session = sts_sessions._find_anywhere(key)
            if session is not None:
                session.expiration = min(session.expiration, naive(console.expires))
    return {"ConsoleSessionId": console.console_id, "Expiration": iso(console.expires)}


def _export_role_session(console: Console) -> tuple[str, str, str]:
    """New credentials of the console's role session: same role, name, policy and SessionInfo."""
    from moto.iam.models import iam_backends
    from moto.sts.models import AssumedRole, sts_backends

    original = console.role_session
    key = iam_backends[original.account_id][original.partition].create_temp_access_key()
    key.role_arn = original.role_arn
    session = AssumedRole(
        account_id=original.account_id,
        region_name=original.region_name,
        access_key=key,
        role_session_name=original.session_name,
        role_arn=original.role_arn,
        policy=original.policy,
        duration=SESSION_DURATION_MIN,
        external_id=original.external_id,
    )
    session.expiration = naive(console.expires)
    info = sts_sessions.info(original)
    if info is not None:  # issue time, role id, SourceIdentity and tags of the original session
        session.cib_info = dataclasses.replace(info, tags=dict(info.tags), transitive=set(info.transitive))
    sts_backends[original.account_id][original.partition].assumed_roles.append(session)
    return session.access_key_id, session.secret_access_key, session.session_token


def _export_user_credentials(console: Console) -> UserCredentials:
    from moto.iam.models import iam_backends
    from moto.sts.utils import random_session_token

    key = iam_backends[console.account][console.partition].create_temp_access_key()
    return UserCredentials(
        access_key_id=key.access_key_id,
        secret_access_key=key.secret_access_key,
        session_token=random_session_token(),
        account=console.account,
        partition=console.partition,
        user_name=console.user_name,
        user_id=console.user_id,
        issued_at=console.started,
        expires=console.expires,
        console_id=console.console_id,
    )


# --- requests signed with a user's console credentials ---------------------------------------------


def _current_user(creds: UserCredentials):
    """The console's user, if it still exists (the same user: same unique id)."""
    from moto.iam.models import iam_backends

    user = iam_backends[creds.account][creds.partition].users.get(creds.user_name)
    return user if user is not None and user.id == creds.user_id else None


def identify(account: str, access_key_id: str) -> tuple[str, dict, str] | None:
    """CloudTrail's (account, userIdentity, user name) for a user's console credentials."""
    creds = store.user_credentials(access_key_id)
    user = _current_user(creds) if creds is not None and creds.account == account else None
    if user is None:
        return None
    who = {
        "type": "IAMUser",
        "principalId": user.id,
        "arn": user.arn,
        "accountId": account,
        "accessKeyId": access_key_id,
        "userName": user.name,
        "sessionContext": {
            "attributes": {"creationDate": creds.issued_at.strftime("%Y-%m-%dT%H:%M:%SZ"), "mfaAuthenticated": "false"}
        },
    }
    return account, who, user.name


def make_console_user_caller():
    """`principals`' UserCaller, for temporary credentials exported from the user's console."""
    from botocore.credentials import Credentials
    from moto.iam import access_control as ac

    UserCaller, _ = principals.make_classes()

    class ConsoleUserCaller(UserCaller):
        def __init__(self, account_id, partition, access_key_id, headers, creds: UserCredentials):
            self.account_id = account_id
            self.partition = partition
            token = headers.get("X-Amz-Security-Token")
            if token is None or not secrets.compare_digest(token.encode(), creds.session_token.encode()):
                raise ac.CreateAccessKeyFailure(reason="InvalidToken")
            user = _current_user(creds) if (creds.account, creds.partition) == (account_id, partition) else None
            if user is None:  # deleted (or re-created): as a deleted user's key
                raise ac.CreateAccessKeyFailure(reason="InvalidId")
            if store.now() >= creds.expires:
                raise ac.CreateAccessKeyFailure(reason=principals.EXPIRED)
            self.credentials = creds
            self._user = user
            self._owner_user_name = user.name
            self._access_key_id = access_key_id
            self._secret_access_key = creds.secret_access_key
            self._session_token = creds.session_token
            self.principal = Principal(account=account_id, arn=user.arn)
            self.session_policy = None

        def create_credentials(self):
            return Credentials(self._access_key_id, self._secret_access_key, self._session_token)

        def context(self, now: dt.datetime) -> dict:
            ctx = super().context(now)
            # Temporary credentials: the sign-in time, and MFA present (false: no MFA here).
            ctx["aws:TokenIssueTime"] = principals.iso(self.credentials.issued_at)
            ctx["aws:MultiFactorAuthPresent"] = "false"
            return ctx

    return ConsoleUserCaller


def apply() -> None:
    from moto.iam import access_control as ac
    from moto.moto_api._internal import urls
    from moto.moto_api._internal.models import MotoAPIBackend
    from moto.sts import models as sts_models

    urls.url_paths[SIGNIN_TOKEN_PATH] = _control(signin_token)
    urls.url_paths[LOGIN_PATH] = _control(login)
    urls.url_paths[USER_LOGIN_PATH] = _control(user_login)
    urls.url_paths[EXPORT_PATH] = _control(export_credentials)
    urls.url_paths[EXPIRE_PATH] = _control(expire)

    # Who signed: a user's console credentials before `principals`' rules (applied earlier).
    ConsoleUserCaller = make_console_user_caller()
    create_access_key = ac.create_access_key

    def create_access_key_with_consoles(account_id, partition, access_key_id, headers, _original=create_access_key):
        creds = store.user_credentials(access_key_id)
        if creds is not None:
            return ConsoleUserCaller(account_id, partition, access_key_id, headers, creds)
        return _original(account_id, partition, access_key_id, headers)

    ac.create_access_key = create_access_key_with_consoles

    # GetCallerIdentity: moto knows only users' long-term keys and role sessions.
    get_caller_identity = sts_models.STSBackend.get_caller_identity

    def get_caller_identity_with_consoles(self, access_key_id, region, _original=get_caller_identity):
        creds = store.user_credentials(access_key_id)
        user = _current_user(creds) if creds is not None else None
        if user is not None:
            return user.id, user.arn, creds.account
        return _original(self, access_key_id, region)

    sts_models.STSBackend.get_caller_identity = get_caller_identity_with_consoles

    reset = MotoAPIBackend.reset

    def reset_with_consoles(self, _reset=reset):
        store.clear()
        return _reset(self)

    MotoAPIBackend.reset = reset_with_consoles
