"""The one local endpoint also answers IAM Identity Center's unsigned REST APIs: the AWS access
portal (`identity_center_portal`) and its OIDC service (`identity_center_oidc`).

On AWS they have their own hosts (portal.sso.<region>.amazonaws.com, oidc.<region>.amazonaws.com);
locally SDKs and the AWS CLI reach them at the local endpoint (endpoint_url, AWS_ENDPOINT_URL_SSO,
AWS_ENDPOINT_URL_SSO_OIDC). Their requests carry no SigV4 signature (botocore's models: auth
`smithy.api#noAuth`; GetRoleCredentials, ListAccounts, ListAccountRoles and Logout send the portal
token in the header `x-amz-sso_bearer_token`), so moto's DomainDispatcherApplication, which picks
a backend from the signature's credential scope and else from the body, cannot tell them from an
anonymous S3 request (it would take /token for a bucket). `get_application` is wrapped to give such
a request to the handler registered for its exact method and path, and only when it has no
Authorization header and no presigned-URL signature, and when the handler's own test holds (the
portal's: the bearer token header is present; OIDC's: a JSON body). Every other request, signed or
not, goes where moto sends it.

werkzeug's development server drops every request header whose name holds an underscore (so that
`X-Foo_Bar` cannot pass for `X-Foo-Bar`), and with it the portal's `x-amz-sso_bearer_token`. Its
`make_environ` is wrapped to keep that one header, as `cib.sso_bearer_token`.

Answers are REST-JSON as AWS's: a JSON body, errors with the `x-amzn-ErrorType` header (the code
both botocore and the AWS SDK for Rust read) and the HTTP status of the error's shape.
"""

from __future__ import annotations

import json
from typing import Callable

BEARER_ENVIRON = "cib.sso_bearer_token"
BEARER_HEADER = "x-amz-sso_bearer_token"

# (method, path) → (predicate on the WSGI environ, handler(werkzeug Request) → (status, headers, body))
_routes: dict[tuple[str, str], tuple[Callable[[dict], bool], Callable]] = {}


class ApiError(Exception):
    """An error answer: HTTP status, error code (x-amzn-ErrorType) and JSON body."""

    def __init__(self, status: int, code: str, body: dict):
        super().__init__(code)
        self.status, self.code, self.body = status, code, body


def route(method: str, path: str, handler: Callable, when: Callable[[dict], bool] = lambda environ: True) -> None:
    _routes[(method, path)] = (when, handler)


def has_bearer_token(environ) -> bool:
    return BEARER_ENVIRON in environ


def is_json(environ) -> bool:
    return "json" in (environ.get("CONTENT_TYPE") or "")


def _handler_for(environ):
    if environ.get("HTTP_AUTHORIZATION"):
        return None  # signed: moto's, whatever the path
    query = environ.get("QUERY_STRING") or ""
    if "X-Amz-Signature=" in query or "Signature=" in query:
        return None  # a presigned URL
    entry = _routes.get((environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")))
    if entry is None or not entry[0](environ):
        return None
    return entry[1]


def answer(status: int, body: dict | None, headers: dict | None = None):
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body if body is not None else {})


def wsgi_app(handler):
    """A WSGI application calling handler(request) → (status, headers, body)."""
    from werkzeug.wrappers import Request, Response

    def app(environ, start_response):
        request = Request(environ)
        try:
            status, headers, body = handler(request)
        except ApiError as e:
            status, headers, body = answer(e.status, e.body, {"x-amzn-ErrorType": e.code})
        return Response(body, status=status, headers=headers)(environ, start_response)

    return app


def bearer_token(request) -> str | None:
    return request.environ.get(BEARER_ENVIRON)


def json_body(request) -> dict:
    try:
        body = json.loads(request.get_data(as_text=True) or "{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidRequestException", {"error": "invalid_request", "error_description": "The request body is not a JSON object."})
    return body


def apply() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from werkzeug.serving import WSGIRequestHandler

    get_application = DomainDispatcherApplication.get_application

    def get_application_with_identity_center(self, environ, _original=get_application):
        handler = _handler_for(environ)
        if handler is not None:
            return wsgi_app(handler)
        return _original(self, environ)

    DomainDispatcherApplication.get_application = get_application_with_identity_center

    make_environ = WSGIRequestHandler.make_environ

    def make_environ_keeping_bearer(self, _original=make_environ):
        environ = _original(self)
        for key, value in self.headers.items():
            if key.lower() == BEARER_HEADER:
                environ[BEARER_ENVIRON] = value
        return environ

    WSGIRequestHandler.make_environ = make_environ_keeping_bearer
