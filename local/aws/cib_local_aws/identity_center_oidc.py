"""IAM Identity Center's OIDC service as the AWS CLI signs in with it (the device code grant), and
the sign-in sessions (portal tokens) it hands out, which `identity_center_portal` accepts.

moto has no OIDC service. From the IAM Identity Center OIDC API Reference (RegisterClient,
StartDeviceAuthorization, CreateToken; its "Considerations": the service "implements only the
portions of the OAuth 2.0 Device Authorization Grant standard (https://tools.ietf.org/html/rfc8628)
that are necessary to enable single sign-on authentication with the AWS CLI") and RFC 8628:

- RegisterClient (POST /client/register): clientName and clientType required; "The service
  supports only public as a client type. Anything other than public will be rejected":
  InvalidClientMetadataException; grantTypes, if given, among authorization_code,
  urn:ietf:params:oauth:grant-type:device_code and refresh_token (else
  UnsupportedGrantTypeException). Answers clientId, clientSecret, clientIdIssuedAt and
  clientSecretExpiresAt (epoch seconds; 90 days, the registration's life the AWS CLI's cache
  shows).
- StartDeviceAuthorization (POST /device_authorization): clientId and clientSecret of a registered,
  unexpired client (else InvalidClientException, HTTP 401), startUrl (the access portal's URL,
  https://<identity store id>.awsapps.com/start; not an https URL: InvalidRequestException); a
  client registered with grantTypes that leave out the device code grant:
  UnauthorizedClientException. Answers deviceCode, userCode (RFC 8628 §6.1: 8 characters of
  BCDFGHJKLMNPQRSTVWXZ, shown XXXX-XXXX), verificationUri
  (https://device.sso.<region>.amazonaws.com/), verificationUriComplete (with ?user_code=),
  expiresIn 600 and interval 1 (AWS's values).
- CreateToken (POST /token), grantType urn:ietf:params:oauth:grant-type:device_code (RFC 8628
  §3.4, §3.5): until the user approves, AuthorizationPendingException (authorization_pending);
  polling sooner than `interval` seconds after the previous poll, SlowDownException (slow_down),
  and the interval grows by 5 seconds "for this and all subsequent requests"; after expiresIn,
  ExpiredTokenException (expired_token); a device code this client was not given, or one already
  exchanged, InvalidGrantException (invalid_grant); a bad clientId / clientSecret,
  InvalidClientException. Once approved: accessToken, tokenType Bearer, expiresIn, and a
  refreshToken when the client registered the refresh_token grant. grantType refresh_token: a
  refresh token of this client's still valid sign-in gives a new access token and a new refresh
  token (the old one is spent); authorization_code (with PKCE) is not played here and, like any
  other grant type, is UnsupportedGrantTypeException. Errors carry `error` and
  `error_description`, as AWS's do.
- The sign-in: the browser step (the user opens verificationUri, signs in to the access portal
  and approves) is the control endpoint below, which signs an identity store user in. A sign-in
  lasts 8 hours (the AWS access portal's default session duration, "Configure the session duration
  of the AWS access portal", howtosessionduration.html); an access token lasts until then, or one
  hour when the client can refresh it (chosen). Logout (the portal's) ends the sign-in: its access
  and refresh tokens are refused from then on; role credentials already fetched keep working
  ("After user logout, any existing IAM role sessions that were created by using IAM Identity
  Center permission sets continue", API_Logout.html).

Control endpoints (unsigned, JSON; errors {"message"}):

    POST /moto-api/cib/sso/device/approve
        {"UserCode", "IdentityStoreId", "UserName" or "UserId"}: that identity store user signs in
        and approves the device authorization with this user code. → 200 {"UserCode",
        "IdentityStoreId", "UserId", "UserName"}; 404 for an unknown user code, an identity store
        of no organization instance, a user not in it; 400 if malformed, if the authorization
        expired, was already approved, or its startUrl names another identity store.
    POST /moto-api/cib/sso/device/expire  {"UserCode"}  (tests)
        the device authorization expires now. → 200 {"UserCode"}; 404 unknown; 400 malformed.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

from . import identity_center_admin as admin
from .identity_center_http import ApiError, answer, is_json, json_body, route
from .ssm_agents import json_answer, read_json

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
REFRESH_GRANT = "refresh_token"
CODE_GRANT = "authorization_code"
GRANT_TYPES = (CODE_GRANT, DEVICE_GRANT, REFRESH_GRANT)
DEVICE_EXPIRES_IN = 600
INTERVAL = 1
SLOW_DOWN_STEP = 5
CLIENT_LIFETIME = 90 * 86_400
SIGNIN_LIFETIME = 8 * 3_600
REFRESHABLE_ACCESS_TOKEN = 3_600
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
APPROVE_PATH = "{0}/moto-api/cib/sso/device/approve"
EXPIRE_PATH = "{0}/moto-api/cib/sso/device/expire"
_STORE_HOST = re.compile(r"^(d-[0-9a-z]{10})\.awsapps\.com$")  # moto's ids are not all hex

clock = time.time  # epoch seconds; replaceable in tests


@dataclass
class Client:
    client_id: str
    secret: str
    grant_types: tuple[str, ...] | None
    issued: int
    expires: int


@dataclass
class SignIn:
    """A user's access portal session."""

    owner: str  # the organization instance's account
    region: str
    instance_arn: str
    identity_store_id: str
    user_id: str
    user_name: str
    expires: float
    ended: bool = False


@dataclass
class Device:
    device_code: str
    user_code: str
    client_id: str
    start_url: str
    expires: float
    interval: int = INTERVAL
    last_poll: float | None = None
    signin: SignIn | None = None
    exchanged: bool = False


@dataclass
class Token:
    client_id: str
    signin: SignIn
    expires: float
    spent: bool = False


@dataclass
class Store:
    lock: threading.Lock = field(default_factory=threading.Lock)
    clients: dict[str, Client] = field(default_factory=dict)
    devices: dict[str, Device] = field(default_factory=dict)  # by device code
    user_codes: dict[str, str] = field(default_factory=dict)  # user code → device code
    access: dict[str, Token] = field(default_factory=dict)
    refresh: dict[str, Token] = field(default_factory=dict)

    def clear(self) -> None:
        with self.lock:
            for d in (self.clients, self.devices, self.user_codes, self.access, self.refresh):
                d.clear()


store = Store()


def _oauth(status: int, code: str, error: str, description: str) -> ApiError:
    return ApiError(status, code, {"error": error, "error_description": description})


def _invalid_request(description: str) -> ApiError:
    return _oauth(400, "InvalidRequestException", "invalid_request", description)


def _string(body: dict, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise _invalid_request(f"{name} is required")
    return value


def _client(body: dict) -> Client:
    client_id, secret = _string(body, "clientId"), _string(body, "clientSecret")
    client = store.clients.get(client_id)
    if client is None or not secrets.compare_digest(client.secret, secret) or clock() >= client.expires:
        raise _oauth(401, "InvalidClientException", "invalid_client", "Invalid client")
    return client


def _allows(client: Client, grant: str) -> bool:
    return grant == DEVICE_GRANT if client.grant_types is None else grant in client.grant_types


# --- The API --------------------------------------------------------------------------------------


def register_client(request):
    body = json_body(request)
    _string(body, "clientName")
    if body.get("clientType") != "public":
        raise _oauth(400, "InvalidClientMetadataException", "invalid_client_metadata", "Invalid client type: only public clients are supported")
    grants = body.get("grantTypes")
    if grants is not None:
        if not isinstance(grants, list) or any(g not in GRANT_TYPES for g in grants):
            raise _oauth(400, "UnsupportedGrantTypeException", "unsupported_grant_type", "Unsupported grant type")
        grants = tuple(grants)
    now = int(clock())
    client = Client("cib-" + secrets.token_urlsafe(24), secrets.token_urlsafe(48), grants, now, now + CLIENT_LIFETIME)
    with store.lock:
        store.clients[client.client_id] = client
    return answer(
        200,
        {"clientId": client.client_id, "clientSecret": client.secret, "clientIdIssuedAt": client.issued, "clientSecretExpiresAt": client.expires},
    )


def _store_of(start_url: str) -> str | None:
    m = _STORE_HOST.match(urlparse(start_url).hostname or "")
    return m.group(1) if m else None


def start_device_authorization(request):
    body = json_body(request)
    with store.lock:
        client = _client(body)
        start_url = _string(body, "startUrl")
        if urlparse(start_url).scheme != "https" or not urlparse(start_url).hostname:
            raise _invalid_request("startUrl must be the https URL of an AWS access portal")
        if not _allows(client, DEVICE_GRANT):
            raise _oauth(400, "UnauthorizedClientException", "unauthorized_client", "The client is not registered for the device code grant")
        user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
        user_code = f"{user_code[:4]}-{user_code[4:]}"
        device = Device(secrets.token_urlsafe(48), user_code, client.client_id, start_url, clock() + DEVICE_EXPIRES_IN)
        store.devices[device.device_code] = device
        store.user_codes[user_code] = device.device_code
    found = admin.find_instance_by_store(_store_of(start_url) or "")
    region = found[1] if found else "us-east-1"
    verification = f"https://device.sso.{region}.amazonaws.com/"
    return answer(
        200,
        {
            "deviceCode": device.device_code,
            "userCode": user_code,
            "verificationUri": verification,
            "verificationUriComplete": f"{verification}?user_code={user_code}",
            "expiresIn": DEVICE_EXPIRES_IN,
            "interval": INTERVAL,
        },
    )


def _issue(client: Client, signin: SignIn) -> dict:
    now = clock()
    refreshable = client.grant_types is not None and REFRESH_GRANT in client.grant_types
    expires = min(signin.expires, now + REFRESHABLE_ACCESS_TOKEN) if refreshable else signin.expires
    access = "aoa" + secrets.token_urlsafe(48)
    store.access[access] = Token(client.client_id, signin, expires)
    out = {"accessToken": access, "tokenType": "Bearer", "expiresIn": max(int(expires - now), 0)}
    if refreshable:
        refresh = "aor" + secrets.token_urlsafe(48)
        store.refresh[refresh] = Token(client.client_id, signin, signin.expires)
        out["refreshToken"] = refresh
    return out


def create_token(request):
    body = json_body(request)
    with store.lock:
        client = _client(body)
        grant = _string(body, "grantType")
        if grant == DEVICE_GRANT:
            return answer(200, _device_grant(client, _string(body, "deviceCode")))
        if grant == REFRESH_GRANT:
            return answer(200, _refresh_grant(client, _string(body, "refreshToken")))
        raise _oauth(400, "UnsupportedGrantTypeException", "unsupported_grant_type", f"Unsupported grant type: {grant}")


def _device_grant(client: Client, device_code: str) -> dict:
    device = store.devices.get(device_code)
    if device is None or device.client_id != client.client_id or device.exchanged:
        raise _oauth(400, "InvalidGrantException", "invalid_grant", "Invalid device code provided")
    now = clock()
    if now >= device.expires:
        raise _oauth(400, "ExpiredTokenException", "expired_token", "Device code has expired")
    previous, device.last_poll = device.last_poll, now
    if previous is not None and now - previous < device.interval:
        device.interval += SLOW_DOWN_STEP
        raise _oauth(400, "SlowDownException", "slow_down", f"Client is polling too fast: wait {device.interval} seconds between requests")
    if device.signin is None:
        raise _oauth(400, "AuthorizationPendingException", "authorization_pending", "Authorization is still pending")
    device.exchanged = True
    return _issue(client, device.signin)


def _refresh_grant(client: Client, refresh_token: str) -> dict:
    if not _allows(client, REFRESH_GRANT):
        raise _oauth(400, "UnauthorizedClientException", "unauthorized_client", "The client is not registered for the refresh token grant")
    token = store.refresh.get(refresh_token)
    if token is None or token.client_id != client.client_id or token.spent or token.signin.ended:
        raise _oauth(400, "InvalidGrantException", "invalid_grant", "Invalid refresh token provided")
    if clock() >= token.signin.expires:
        raise _oauth(400, "ExpiredTokenException", "expired_token", "The sign-in session has expired")
    token.spent = True
    return _issue(client, token.signin)


# --- What the portal asks -------------------------------------------------------------------------


def signin_for(access_token: str | None) -> SignIn | None:
    """The live sign-in of an access token (None: unknown, expired, or logged out)."""
    if not access_token:
        return None
    with store.lock:
        token = store.access.get(access_token)
        if token is None or token.signin.ended or clock() >= min(token.expires, token.signin.expires):
            return None
        return token.signin


def logout(access_token: str) -> bool:
    """Ends the token's sign-in (all its access and refresh tokens); False if it was not live."""
    with store.lock:
        token = store.access.get(access_token)
        if token is None or token.signin.ended:
            return False
        token.signin.ended = True
        return True


# --- Control endpoints ----------------------------------------------------------------------------


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _field(body: dict, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise Refused(400, f"{name} must be a non-empty string")
    return value


def _device(body: dict) -> Device:
    device_code = store.user_codes.get(_field(body, "UserCode"))
    if device_code is None:
        raise Refused(404, f"no device authorization has the user code {body['UserCode']}")
    return store.devices[device_code]


def approve(body: dict) -> dict:
    store_id = _field(body, "IdentityStoreId")
    by_name, by_id = body.get("UserName"), body.get("UserId")
    if (by_name is None) == (by_id is None) or not isinstance(by_name or by_id, str) or not (by_name or by_id):
        raise Refused(400, "give exactly one of UserName and UserId, a non-empty string")
    with store.lock:
        device = _device(body)
        if clock() >= device.expires:
            raise Refused(400, "the device authorization has expired")
        if device.signin is not None or device.exchanged:
            raise Refused(400, "the device authorization was already approved")
    bound = _store_of(device.start_url)
    if bound is not None and bound != store_id:
        raise Refused(400, f"the device authorization was started for {device.start_url}, not identity store {store_id}")
    found = admin.find_instance_by_store(store_id)
    if found is None:
        raise Refused(404, f"no organization instance of IAM Identity Center has the identity store {store_id}")
    owner, region, _, instance = found
    data = admin.identity_store(owner, region, store_id)
    users = list(data.users.values()) if data is not None else []
    user = next((u for u in users if (u.UserName == by_name if by_name is not None else u.UserId == by_id)), None)
    if user is None:
        raise Refused(404, f"no user {by_name or by_id} in identity store {store_id}")
    signin = SignIn(owner, region, instance.instance_arn, store_id, user.UserId, user.UserName, clock() + SIGNIN_LIFETIME)
    with store.lock:
        if device.signin is not None:
            raise Refused(400, "the device authorization was already approved")
        device.signin = signin
    return {"UserCode": device.user_code, "IdentityStoreId": store_id, "UserId": user.UserId, "UserName": user.UserName}


def expire(body: dict) -> dict:
    with store.lock:
        device = _device(body)
        device.expires = min(device.expires, clock())
    return {"UserCode": device.user_code}


def _control(handler):
    def endpoint(request, full_url, headers):
        if request.method != "POST":
            return json_answer(405, {"message": "POST with a JSON body"})
        try:
            return json_answer(200, handler(read_json(request)))
        except Refused as e:
            return json_answer(e.status, {"message": e.message})
        except ValueError as e:
            return json_answer(400, {"message": str(e)})

    return endpoint


def apply() -> None:
    from moto.moto_api._internal import urls
    from moto.moto_api._internal.models import MotoAPIBackend

    route("POST", "/client/register", register_client, is_json)
    route("POST", "/device_authorization", start_device_authorization, is_json)
    route("POST", "/token", create_token, is_json)
    urls.url_paths[APPROVE_PATH] = _control(approve)
    urls.url_paths[EXPIRE_PATH] = _control(expire)

    reset = MotoAPIBackend.reset

    def reset_with_oidc(self, _reset=reset):
        store.clear()
        return _reset(self)

    MotoAPIBackend.reset = reset_with_oidc
