"""CloudTrail's record of API calls: every authenticated request the server answers, kept as an event.

AWS records each API call made in an account as a CloudTrail event (Event history keeps the
management events of the last 90 days, per Region; `cloudtrail_lookup` answers LookupEvents
from what is kept here). This module owns what is recorded and how:
- which requests: those signed with SigV4 (an Authorization header, or a presigned URL's
  X-Amz-Credential) whose access key is known to an account, an IAM user's or a role
  session's; whatever the service and the outcome, except those that fail authentication
  (InvalidClientTokenId, SignatureDoesNotMatch, ExpiredToken...: AWS cannot tell whose they
  are). Unsigned requests and moto's `/moto-api/` control endpoints are never recorded, nor
  requests carrying `X-Cib-Local-Unrecorded` (UNRECORDED_HEADER): the local stand-ins of AWS's own
  services send it when they play a check AWS makes inside, with no event (the console sign-in
  stand-in checking a session's credentials before getSigninToken answers).
- what an event holds: time (when the request completed, UTC, whole seconds as CloudTrail
  shows it), access key id, account, Region and service (from the credential scope;
  eventSource `<service>.amazonaws.com`), event name (the query protocol's Action, the
  operation of X-Amz-Target, for S3 a name from method and path, else the operation moto
  dispatched to), readOnly (Get*, List*, Describe*, Head*, Lookup*), userIdentity (IAMUser,
  with a sessionContext for a user's console credentials from `console_sessions`, or
  AssumedRole with its sessionContext, from `sts_sessions`), errorCode when the status is
  400 or more, and the resources the request was authorized against (`enforcement` sees
  them; often none). Never the request's body, its parameters, a secret key or a session
  token: the form body is read only for its Action.
- management or data: CloudTrail Event history does not record data events (S3 object-level
  calls, DynamoDB item calls, Lambda Invoke, SQS messages, SNS Publish: "Logging data
  events", CloudTrail User Guide); they are kept with eventCategory Data and LookupEvents
  does not return them, as on AWS.
The recorder wraps moto's WSGI dispatcher, so it sees every service alike. Events live in
memory, at most MAX_EVENTS per account and Region (the oldest go first); moto's reset
(/moto-api/reset) clears them.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import threading
import traceback
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from . import sts_sessions

MAX_EVENTS = 50_000
# Set by the project's local stand-ins of AWS's own services (see the module's doc).
UNRECORDED_HEADER = "X-Cib-Local-Unrecorded"
_UNRECORDED_ENV = "HTTP_" + UNRECORDED_HEADER.upper().replace("-", "_")
MAX_FORM_BYTES = 1 << 20
EVENT_VERSION = "1.11"
READ_ONLY_PREFIXES = ("Get", "List", "Describe", "Head", "Lookup")
# Refused before anyone is authenticated: AWS cannot tell whose these are.
AUTHENTICATION_FAILURES = frozenset(
    "AuthFailure ExpiredToken ExpiredTokenException IncompleteSignature IncompleteSignatureException InvalidAccessKeyId "
    "InvalidClientTokenId InvalidSignatureException InvalidToken MissingAuthenticationToken "
    "MissingAuthenticationTokenException SignatureDoesNotMatch UnrecognizedClientException".split()
)
_HTTP_ERRORS = {400: "BadRequest", 403: "AccessDenied", 404: "NotFound", 409: "Conflict", 500: "InternalFailure", 503: "ServiceUnavailable"}
_CREDENTIAL = re.compile(r"Credential=([^,\s]+)")
_XML_CODE = re.compile(r"<Code>([^<]+)</Code>")

# --- S3: names from method and path --------------------------------------------------------------

# Bucket configuration sub-resources (?acl, ?policy...): Get/Put/Delete + this, as CloudTrail names S3's.
_BUCKET_CONFIG = {
    sub: "Bucket" + sub[0].upper() + sub[1:]
    for sub in "accelerate acl cors encryption lifecycle logging notification ownershipControls policy policyStatus "
    "publicAccessBlock replication requestPayment tagging versioning website".split()
} | {"object-lock": "ObjectLockConfiguration"}
_OBJECT_CONFIG = {"acl": "ObjectAcl", "tagging": "ObjectTagging", "retention": "ObjectRetention", "legal-hold": "ObjectLegalHold", "attributes": "ObjectAttributes"}
_PREFIX = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}
S3_BUCKET_DATA_EVENTS = frozenset({"ListObjects", "ListObjectsV2", "ListObjectVersions", "DeleteObjects"})
# Data events of other services (CloudTrail User Guide, "Logging data events"); everything
# else is a management event.
DATA_EVENTS = {
    "dynamodb": frozenset(
        "GetItem PutItem UpdateItem DeleteItem BatchGetItem BatchWriteItem Query Scan TransactGetItems TransactWriteItems "
        "ExecuteStatement BatchExecuteStatement ExecuteTransaction".split()
    ),
    "lambda": frozenset({"Invoke", "InvokeWithResponseStream"}),
    "sqs": frozenset(
        "SendMessage SendMessageBatch ReceiveMessage DeleteMessage DeleteMessageBatch ChangeMessageVisibility "
        "ChangeMessageVisibilityBatch".split()
    ),
    "sns": frozenset({"Publish", "PublishBatch"}),
}


def _s3_bucket_key(path: str, host: str) -> tuple[str | None, str | None]:
    host = host.split(":")[0]
    m = re.match(r"^(?P<bucket>.+)\.s3[.-]", host)
    if m:  # virtual-hosted style: the bucket is in the host name
        key = path.lstrip("/")
        return m.group("bucket"), key or None
    parts = path.lstrip("/").split("/", 1)
    bucket = parts[0] or None
    key = parts[1] if len(parts) == 2 and parts[1] else None
    return bucket, key


def s3_operation(method: str, path: str, query: dict, host: str = "", copy_source: bool = False) -> tuple[str, bool]:
    """(event name, data event?) of an S3 REST request, best effort, from method, path and query."""
    method = method.upper()
    bucket, key = _s3_bucket_key(path, host)
    if bucket is None:
        return "ListBuckets", False
    if key is None:
        name = _s3_bucket_operation(method, query)
        return name, name in S3_BUCKET_DATA_EVENTS
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload", True
        if "uploadId" in query:
            return "CompleteMultipartUpload", True
        return ("RestoreObject" if "restore" in query else "SelectObjectContent" if "select" in query else "PostObject"), True
    for sub, name in _OBJECT_CONFIG.items():
        if sub in query and method in _PREFIX:
            return _PREFIX[method] + name, True
    if method == "PUT":
        if "uploadId" in query:
            return ("UploadPartCopy" if copy_source else "UploadPart"), True
        return ("CopyObject" if copy_source else "PutObject"), True
    if method == "GET":
        return ("ListParts" if "uploadId" in query else "GetObject"), True
    if method == "DELETE":
        return ("AbortMultipartUpload" if "uploadId" in query else "DeleteObject"), True
    return "HeadObject", True


def _s3_bucket_operation(method: str, query: dict) -> str:
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    if method == "HEAD":
        return "HeadBucket"
    if method == "GET":
        if "location" in query:
            return "GetBucketLocation"
        if "uploads" in query:
            return "ListMultipartUploads"
        if "versions" in query:
            return "ListObjectVersions"
    for sub, name in _BUCKET_CONFIG.items():
        if sub in query and method in _PREFIX:
            return _PREFIX[method] + name
    if method == "GET":
        return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
    return {"PUT": "CreateBucket", "DELETE": "DeleteBucket"}.get(method, f"{method.title()}Bucket")


# --- what a request is ---------------------------------------------------------------------------


def credential(environ) -> tuple[str, str, str] | None:
    """(access key id, Region, service) of a SigV4 request's credential scope, None if unsigned."""
    auth = environ.get("HTTP_AUTHORIZATION") or ""
    scope = None
    if auth:
        m = _CREDENTIAL.search(auth) if auth.startswith("AWS4-") else None
        scope = m.group(1) if m else None
    else:
        scope = (parse_qs(environ.get("QUERY_STRING") or "").get("X-Amz-Credential") or [None])[0]
    parts = scope.split("/") if scope else []
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        return None
    return parts[0], parts[2], parts[3].lower()


def _form_action(environ) -> str | None:
    """The Action of a form-encoded body (query protocol). The body is put back for moto."""
    if not (environ.get("CONTENT_TYPE") or "").startswith("application/x-www-form-urlencoded"):
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if not 0 < length <= MAX_FORM_BYTES:
        return None
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    values = parse_qs(body.decode("utf-8", "replace")).get("Action")
    return values[0] if values else None


def operation(environ, service: str) -> tuple[str | None, bool]:
    """(event name, data event?) from the request alone; None when only moto's routing knows."""
    query = parse_qs(environ.get("QUERY_STRING") or "", keep_blank_values=True)
    name = (query.get("Action") or [None])[0] or _form_action(environ)
    if not name and environ.get("HTTP_X_AMZ_TARGET"):
        name = environ["HTTP_X_AMZ_TARGET"].rsplit(".", 1)[-1]
    if not name and service == "s3":
        return s3_operation(
            environ.get("REQUEST_METHOD", "GET"),
            environ.get("PATH_INFO", "/"),
            query,
            environ.get("HTTP_HOST", ""),
            "HTTP_X_AMZ_COPY_SOURCE" in environ,
        )
    return name, False


def is_data_event(service: str, name: str) -> bool:
    return name in DATA_EVENTS.get(service, ())


def read_only(name: str) -> bool:
    return name.startswith(READ_ONLY_PREFIXES)


def error_code(status: int, body: bytes) -> str:
    """The error code of an error response: JSON `__type`/`code`, XML `<Code>`, else from the status."""
    text = body[:65536].decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = {}
        code = data.get("__type") or data.get("code") or data.get("Code") if isinstance(data, dict) else None
        if code:
            return str(code).split("#")[-1].split(":")[0]
    m = _XML_CODE.search(text)
    if m:
        return m.group(1).strip()
    return _HTTP_ERRORS.get(status, f"Http{status}")


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def identify(environ, access_key_id: str, region: str) -> tuple[str, dict, str] | None:
    """(account, userIdentity, user name) of whoever owns the key; None for a key no account knows."""
    from moto.iam.models import get_account_id_from, iam_backends
    from moto.utilities.utils import get_partition

    # moto's own order (BaseResponse.get_current_account): environment, header, access key.
    account = os.environ.get("MOTO_ACCOUNT_ID") or environ.get("HTTP_X_MOTO_ACCOUNT_ID") or get_account_id_from(access_key_id)
    partition = get_partition(region)
    backend = iam_backends[account][partition]
    key = backend.access_keys.get(access_key_id)
    if key is None:
        return None
    if key.user_name:
        user = backend.users.get(key.user_name)
        if user is None:
            return None
        who = {"type": "IAMUser", "principalId": user.id, "arn": user.arn, "accountId": account, "accessKeyId": access_key_id, "userName": user.name}
        return account, who, user.name
    session = sts_sessions.find_session(account, partition, access_key_id)
    if session is None:
        from . import console_sessions  # an IAM user's credentials exported from its console (CloudShell)

        return console_sessions.identify(account, access_key_id)
    info = sts_sessions.info(session)
    role_id = info.role_id if info is not None and info.role_id else None
    if role_id is None:
        try:
            role_id = backend.get_role_by_arn(session.role_arn).id
        except Exception:
            role_id = "AROAUNKNOWN"
    issued = info.issued_at if info is not None else None
    context: dict = {
        "sessionIssuer": {
            "type": "Role",
            "principalId": role_id,
            "arn": session.role_arn,
            "accountId": session.role_arn.split(":")[4] if session.role_arn.count(":") >= 5 else account,
            "userName": session.role_arn.split("/")[-1],
        },
        "attributes": {"creationDate": _iso(issued), "mfaAuthenticated": "false"} if issued else {"mfaAuthenticated": "false"},
    }
    if info is not None and info.source_identity is not None:
        context["sourceIdentity"] = info.source_identity
    who = {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session.session_name}",
        "arn": session.arn,
        "accountId": account,
        "accessKeyId": access_key_id,
        "sessionContext": context,
    }
    return account, who, session.session_name


# --- events and the store ------------------------------------------------------------------------


_RESOURCE_TYPES = {
    ("iam", "role"): "AWS::IAM::Role",
    ("iam", "user"): "AWS::IAM::User",
    ("iam", "group"): "AWS::IAM::Group",
    ("iam", "policy"): "AWS::IAM::Policy",
    ("iam", "instance-profile"): "AWS::IAM::InstanceProfile",
    ("ec2", "instance"): "AWS::EC2::Instance",
    ("ssm", "document"): "AWS::SSM::Document",
    ("ssm", "managed-instance"): "AWS::SSM::ManagedInstance",
    ("ssm", "session"): "AWS::SSM::Session",
    ("kms", "key"): "AWS::KMS::Key",
    ("dynamodb", "table"): "AWS::DynamoDB::Table",
}


def resource_type_and_name(arn: str) -> tuple[str, str]:
    """LookupEvents' (ResourceType, ResourceName) of an ARN: the type, and the resource's name or id."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return "AWS::Unknown", arn
    service, rest = parts[2], parts[5]
    if service == "s3":
        return ("AWS::S3::Object" if "/" in rest else "AWS::S3::Bucket"), rest
    if service == "sqs":
        return "AWS::SQS::Queue", rest
    kind, _, name = rest.partition("/") if "/" in rest else rest.partition(":")
    kind_name = _RESOURCE_TYPES.get((service, kind)) or "AWS::{}::{}".format(service.upper(), "".join(p.title() for p in kind.split("-")))
    return kind_name, (name.rsplit("/", 1)[-1] or rest)


@dataclass(frozen=True)
class Event:
    seq: int  # order of completion, across accounts
    event_id: str
    time: dt.datetime  # UTC, whole seconds
    account: str
    region: str
    access_key_id: str
    username: str
    identity: dict  # CloudTrail's userIdentity
    source: str  # eventSource
    name: str
    read_only: bool
    management: bool
    error_code: str | None
    resources: tuple[str, ...]  # ARNs
    source_ip: str
    user_agent: str
    request_id: str

    def record(self) -> dict:
        """The event in CloudTrail's record format (CloudTrail record contents, User Guide)."""
        out = {
            "eventVersion": EVENT_VERSION,
            "userIdentity": self.identity,
            "eventTime": _iso(self.time),
            "eventSource": self.source,
            "eventName": self.name,
            "awsRegion": self.region,
            "sourceIPAddress": self.source_ip,
            "userAgent": self.user_agent,
        }
        if self.error_code:
            out["errorCode"] = self.error_code
        out.update(requestParameters=None, responseElements=None, requestID=self.request_id, eventID=self.event_id, readOnly=self.read_only)
        if self.resources:
            out["resources"] = [{"accountId": self.account, "type": resource_type_and_name(a)[0], "ARN": a} for a in self.resources]
        out.update(
            eventType="AwsApiCall",
            managementEvent=self.management,
            recipientAccountId=self.account,
            eventCategory="Management" if self.management else "Data",
        )
        return out


class History:
    """Events per account and Region, oldest first; thread-safe (the server is threaded)."""

    def __init__(self, limit: int = MAX_EVENTS):
        self.limit = limit
        self._lock = threading.Lock()
        self._events: dict[tuple[str, str], list[Event]] = {}
        self._seq = 0

    def add(self, **fields) -> Event:
        with self._lock:  # time taken under the lock: seq order is time order
            self._seq += 1
            now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
            event = Event(seq=self._seq, event_id=str(uuid.uuid4()), time=now, **fields)
            events = self._events.setdefault((event.account, event.region), [])
            events.append(event)
            if len(events) > self.limit:
                del events[: len(events) - self.limit]
            return event

    def newest_first(self, account: str, region: str) -> list[Event]:
        with self._lock:
            return self._events.get((account, region), [])[::-1]

    def all(self) -> list[Event]:
        with self._lock:
            return sorted((e for events in self._events.values() for e in events), key=lambda e: e.seq)

    def clear(self) -> int:
        with self._lock:
            count = sum(len(v) for v in self._events.values())
            self._events.clear()
            return count


history = History()

# --- recording -----------------------------------------------------------------------------------


@dataclass
class _Pending:
    """What moto's handling of the request in this thread tells us (see `apply`)."""

    operation: str | None = None
    resources: list[str] = field(default_factory=list)


_current = threading.local()


def _recording_call(original):
    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO") or ""
        unrecorded = path.startswith("/moto-api") or _UNRECORDED_ENV in environ
        signed = None if unrecorded else credential(environ)
        who = _identify_quietly(environ, signed) if signed else None  # before: the call may delete the key
        if who is None:
            return original(self, environ, start_response)
        key_id, region, service = signed
        name, data = operation(environ, service)
        seen: dict = {}

        def capture(status, headers, exc_info=None):
            seen["status"], seen["headers"] = int(status.split(" ", 1)[0]), headers
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        pending = _current.pending = _Pending()
        try:
            body = original(self, environ, capture)
        except Exception:
            _record(environ, who, key_id, region, service, name, data, pending, 500, "InternalFailure", {})
            raise
        finally:
            _current.pending = None
        status, error = seen.get("status", 200), None
        if status >= 400:  # error bodies are small: read them for their code, then pass them on
            chunks = list(body)
            if hasattr(body, "close"):
                body.close()
            body, error = chunks, error_code(status, b"".join(chunks))
        if error not in AUTHENTICATION_FAILURES:
            try:
                _record(environ, who, key_id, region, service, name, data, pending, status, error, dict(seen.get("headers") or []))
            except Exception:  # never fail the answer for the record's sake; say it in the server's log
                traceback.print_exc()
        return body

    return __call__


def _identify_quietly(environ, signed):
    try:
        return identify(environ, signed[0], signed[1])
    except Exception:
        traceback.print_exc()
        return None


def _record(environ, who, key_id, region, service, name, data, pending, status, error, headers) -> None:
    account, identity, username = who
    name = name or pending.operation or "Unknown"
    data = data or is_data_event(service, name)
    resources = tuple(dict.fromkeys(r for r in pending.resources if r and "*" not in r))
    request_id = next((v for k, v in headers.items() if k.lower() in ("x-amzn-requestid", "x-amz-request-id")), None)
    history.add(
        account=account,
        region=region,
        access_key_id=key_id,
        username=username,
        identity=identity,
        source=f"{service}.amazonaws.com",
        name=name,
        read_only=read_only(name),
        management=not data,
        error_code=error if status >= 400 else None,
        resources=resources,
        source_ip=environ.get("REMOTE_ADDR") or "127.0.0.1",
        user_agent=(environ.get("HTTP_USER_AGENT") or "")[:1000],
        request_id=request_id or str(uuid.uuid4()),
    )


def apply() -> None:
    from moto.core.responses import BaseResponse
    from moto.iam import access_control as ac
    from moto.moto_api._internal.models import MotoAPIBackend
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    DomainDispatcherApplication.__call__ = _recording_call(DomainDispatcherApplication.__call__)

    # The resources each request is authorized against (after enforcement replaced the check).
    check = ac.IAMRequestBase.check_action_permitted

    def check_action_permitted(self, resource, _check=check):
        pending = getattr(_current, "pending", None)
        if pending is not None and isinstance(resource, str):
            pending.resources.append(resource)
        return _check(self, resource)

    ac.IAMRequestBase.check_action_permitted = check_action_permitted

    # The operation moto dispatches to: the name of REST calls other than S3's.
    call_action = BaseResponse.call_action

    def recording_call_action(self, _call=call_action):
        pending = getattr(_current, "pending", None)
        if pending is not None and pending.operation is None:
            try:
                pending.operation = self._get_action() or None
            except Exception:
                pass
        return _call(self)

    BaseResponse.call_action = recording_call_action

    reset = MotoAPIBackend.reset

    def reset_with_history(self, _reset=reset):
        history.clear()
        return _reset(self)

    MotoAPIBackend.reset = reset_with_history
