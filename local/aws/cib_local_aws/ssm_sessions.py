"""Session Manager: StartSession, DescribeSessions, TerminateSession, ResumeSession (moto has none).

Authorization, as AWS does it (enforcement decides, errors shapes the refusals):
- StartSession: ssm:StartSession on the target (arn:aws:ec2:{region}:{account}:instance/i-…,
  arn:aws:ssm:{region}:{account}:managed-instance/mi-…) and, when DocumentName is given, on the
  document too (arn:aws:ssm:{region}:{account}:document/{name}; AWS-owned documents
  arn:aws:ssm:{region}::document/AWS-…). Without DocumentName the session uses
  SSM-SessionManagerRunShell and, as AWS documents ("Enforce a session document permission check
  for the AWS CLI"), no document permission is needed, but ssm:SessionDocumentAccessCheck is
  false, so an Allow with {"BoolIfExists": {"ssm:SessionDocumentAccessCheck": "true"}} does not
  apply; with DocumentName it is true.
- TerminateSession, ResumeSession: the session, arn:aws:ssm:{region}:{account}:session/{id}, with
  the tags AWS puts on it: ssm:resourceTag/aws:ssmmessages:session-id (the starter's aws:userid)
  and .../aws:ssmmessages:target-id.
- the document actions (CreateDocument, GetDocument, UpdateDocument...): the document's ARN;
  DescribeSessions, DescribeInstanceInformation and everything else: `*`.

StartSession needs the target Online in DescribeInstanceInformation (`ssm_agents`), else
TargetNotConnected ("{target} is not connected."). Its session id is `<name>-<17 hex>`, name
being the caller's role session name or IAM user name; its Owner the caller's ARN. Settings come
from the default version of the Session document used (SSM-SessionManagerRunShell unless
DocumentName names another; AWS-owned ones use SSM-SessionManagerRunShell's), snapshotted at
start, as the agent does:
- run as (Linux and macOS; Windows nodes always use ssm-user): with runAsEnabled, the caller's
  SSMSessionRunAs principal tag (user or role tag, a session tag overriding), else
  runAsDefaultUser; neither: AWS starts the session and its agent fails it ("please set the
  RunAs default user", amazon-ssm-agent shell_unix.go): here StartSession answers and the session
  is Failed at once (DescribeSessions History). Without runAsEnabled: ssm-user.
- recording: s3BucketName, s3KeyPrefix, s3EncryptionEnabled, cloudWatchLogGroupName, kmsKeyId
  (not for Port sessions: port forwarding and SSH are not logged). With s3EncryptionEnabled the
  agent first checks the bucket's encryption (GetBucketEncryption); a missing bucket fails the
  session as above.

The transcript starts "Script started on <time> [session <id> on <target> as <user>]" and grows by
what the control endpoint (unsigned, like moto's /moto-api) says went through the session:

    POST /moto-api/cib/ssm/session-input  {"AccountId", "Region", "SessionId", "Text"}
    → 200 {"SessionId", "Bytes"}; 404 for an unknown or ended session.

TerminateSession ends a Connected session and uploads its transcript as the agent does
(amazon-ssm-agent agent/session/shell/shell.go finishLogging: the key is
fileutil.BuildS3Path(s3KeyPrefix, sessionId + ".log"), a Go path.Join: "logs/" → "logs/<id>.log",
no prefix → "<id>.log"; s3util.S3Upload encrypts with the bucket's default encryption, SSE-KMS
with its key or SSE-S3; a bucket without explicit configuration gets SSE-S3, as every S3 bucket
since January 2023). A missing bucket: the session still ends, nothing uploaded, no OutputUrl.
S3OutputUrl is https://{region}.console.aws.amazon.com/s3/object/{bucket}/{key} (API reference,
DescribeSessions example). Terminating an ended or unknown session succeeds and changes nothing
(AWS lists no not-found error for TerminateSession). ResumeSession gives a Connected session a
new token and stream URL; unknown: DoesNotExistException; ended: ValidationException.
"""

from __future__ import annotations

import datetime as dt
import itertools
import posixpath
import secrets
from dataclasses import dataclass, field

from . import ssm_agents
from .ssm_agents import json_answer, lock, read_json, ssm_backend, state

PREFERENCES = "SSM-SessionManagerRunShell"
SESSION_INPUT_PATH = "{0}/moto-api/cib/ssm/session-input"
ACTIVE = ("Connected", "Connecting", "Disconnected")
RECORDED_SESSION_TYPES = ("Standard_Stream", "InteractiveCommands", "NonInteractiveCommands")
RECORDING_INPUTS = ("s3BucketName", "s3KeyPrefix", "s3EncryptionEnabled", "cloudWatchLogGroupName", "kmsKeyId")
DOCUMENT_ACTIONS = (
    "CreateDocument",
    "GetDocument",
    "DescribeDocument",
    "UpdateDocument",
    "UpdateDocumentDefaultVersion",
    "DeleteDocument",
    "DescribeDocumentPermission",
    "ModifyDocumentPermission",
)
SESSION_ACTIONS = ("StartSession", "TerminateSession", "ResumeSession")
FILTER_KEYS = ("InvokedAfter", "InvokedBefore", "Target", "Owner", "Status", "SessionId", "AccessType")


@dataclass
class Session:
    session_id: str
    target: str
    document_name: str
    owner: str
    owner_userid: str
    run_as: str
    recording: dict
    start: dt.datetime
    status: str = "Connected"
    reason: str | None = None
    max_duration: str | None = None
    end: dt.datetime | None = None
    token: str = ""
    transcript: list[str] = field(default_factory=list)
    output_url: str | None = None
    failure: str | None = None  # what the agent would have logged
    seq: int = field(default_factory=itertools.count().__next__)  # orders equal start times


def _error(code: str, message: str):
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(code, message)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _truthy(value) -> bool:
    return value is True or str(value).lower() == "true"


# --- resources ---------------------------------------------------------------------------------


def target_arn(partition: str, region: str, account: str, target: str) -> str:
    if target.startswith("i-"):
        return f"arn:{partition}:ec2:{region}:{account}:instance/{target}"
    if target.startswith("mi-"):
        return f"arn:{partition}:ssm:{region}:{account}:managed-instance/{target}"
    return "*"  # ECS and other targets: not modelled


def document_arn(partition: str, region: str, account: str, name: str) -> str:
    if name.startswith("arn:"):
        return name  # a shared document, named by its ARN
    owner = "" if name.startswith("AWS-") else account
    return f"arn:{partition}:ssm:{region}:{owner}:document/{name}"


def session_arn(partition: str, region: str, account: str, session_id: str) -> str:
    return f"arn:{partition}:ssm:{region}:{account}:session/{session_id}"


def _sessions(account: str, region: str) -> dict[str, Session]:
    return state(ssm_backend(account, region), "_cib_sessions")


def _determine_resource(self) -> str:
    """The resource moto's authorization checks (core.responses.BaseResponse.call_action)."""
    action = self._get_action()
    p, region, account = self.partition, self.region, self.current_account
    try:
        if action == "StartSession":
            return target_arn(p, region, account, str(self._get_param("Target") or ""))
        if action in ("TerminateSession", "ResumeSession"):
            return session_arn(p, region, account, str(self._get_param("SessionId") or ""))
        if action in DOCUMENT_ACTIONS and self._get_param("Name"):
            return document_arn(p, region, account, str(self._get_param("Name")))
    except Exception:
        pass
    return "*"


def _authorization(self, action: str, resource: str) -> tuple[list[str], dict]:
    """The resources a session action is checked against, and its service context keys."""
    p, region, account = self.partition, self.region, self.current_account
    if action == "StartSession":
        name = self._get_param("DocumentName")
        context = {"ssm:SessionDocumentAccessCheck": "true" if name else "false"}
        return [resource] + ([document_arn(p, region, account, str(name))] if name else []), context
    with lock:
        session = _sessions(account, region).get(str(self._get_param("SessionId") or ""))
    context = {}
    if session is not None:
        for key, value in (("aws:ssmmessages:session-id", session.owner_userid), ("aws:ssmmessages:target-id", session.target)):
            context[f"ssm:resourceTag/{key}"] = value
            context[f"aws:ResourceTag/{key}"] = value
    return [resource], context


def _make_authorize(original):
    def _authenticate_and_authorize_normal_action(self, resource: str = "*") -> None:
        """moto's check (core.authorization), against several resources and with context keys."""
        action = self._get_action()
        if action not in SESSION_ACTIONS:
            return original(self, resource)
        from urllib.parse import urlparse

        from moto import settings
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.iam.access_control import IAMRequest

        if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
            ActionAuthenticatorMixin.request_count += 1  # a free request, as moto counts them
            return
        parsed = urlparse(self.uri)
        path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        request = IAMRequest(
            account_id=self.current_account,
            method=self.method,
            path=path,
            data=self.data,
            body=self.raw_body,
            headers=self.headers,
            action=action,
        )
        request.check_signature()
        resources, request.cib_context = _authorization(self, action, resource)
        for each in resources:
            request.check_action_permitted(each)

    return _authenticate_and_authorize_normal_action


# --- StartSession ------------------------------------------------------------------------------


def _document(backend, name: str):
    documents = backend._documents.get(name)
    return documents.get_default_version() if documents else None


def session_settings(backend, name: str) -> tuple[dict, str]:
    """The inputs and sessionType of the Session document a session uses (its default version)."""
    doc = _document(backend, name)
    if doc is not None:
        if doc.document_type != "Session":
            raise _error("InvalidDocument", f"Document {name} is not a Session document.")
        content = doc.content_json if isinstance(doc.content_json, dict) else {}
        return content.get("inputs") or {}, content.get("sessionType") or "Standard_Stream"
    if name == PREFERENCES:  # no preferences saved: AWS's defaults
        return {}, "Standard_Stream"
    if name.startswith("AWS-"):  # AWS-owned (moto has none): the Region's preferences apply
        prefs = _document(backend, PREFERENCES)
        inputs = (prefs.content_json.get("inputs") or {}) if prefs is not None else {}
        port = "PortForwarding" in name or name == "AWS-StartSSHSession"
        return inputs, "Port" if port else "Standard_Stream"
    raise _error("InvalidDocument", "The specified document does not exist.")


def _caller(self):
    from moto.iam import access_control as ac

    try:
        return ac.create_access_key(self.current_account, self.partition, self.get_access_key(), self.headers)
    except Exception:
        return None  # a free (unsigned) request


def _identity(self) -> tuple[str, str, str, dict[str, str]]:
    """Session name, owner ARN, aws:userid and principal tags (lower-cased keys) of the caller."""
    caller = _caller(self)
    if caller is None:
        return "root", f"arn:{self.partition}:iam::{self.current_account}:root", self.current_account, {}
    ctx = caller.context(_now())
    tags = {k.split("/", 1)[1].lower(): v for k, v in ctx.items() if k.startswith("aws:PrincipalTag/")}
    if caller.kind == "User":
        return caller._user.name, caller._user.arn, ctx["aws:userid"], tags
    return caller._session_name, caller.arn, ctx["aws:userid"], tags


def _bucket(account: str, partition: str, name: str):
    from moto.s3.models import s3_backends

    try:
        return s3_backends[account][partition].get_bucket(name)
    except Exception:
        return None


def start_session(self):
    from moto.core.responses import ActionResult

    account, region = self.current_account, self.region
    target = str(self._get_param("Target") or "")
    document_name = self._get_param("DocumentName") or PREFERENCES
    node = ssm_agents.node_information(account, region, target) if target else None
    if node is None or node["PingStatus"] != "Online":
        raise _error("TargetNotConnected", f"{target} is not connected.")
    backend = ssm_backend(account, region)
    inputs, session_type = session_settings(backend, document_name)
    name, owner, userid, tags = _identity(self)

    failure = None
    if node["PlatformType"] == "Windows" or not _truthy(inputs.get("runAsEnabled")):
        run_as = "ssm-user"
    else:
        run_as = tags.get("ssmsessionrunas") or str(inputs.get("runAsDefaultUser") or "").strip()
        if not run_as:
            failure = "please set the RunAs default user"
    recording = {}
    if session_type in RECORDED_SESSION_TYPES:
        recording = {k: inputs[k] for k in RECORDING_INPUTS if inputs.get(k) not in (None, "")}
    bucket = recording.get("s3BucketName")
    if bucket and _truthy(recording.get("s3EncryptionEnabled")) and _bucket(account, self.partition, bucket) is None:
        failure = failure or "Couldn't start the session because we are unable to validate encryption on Amazon S3 bucket."

    start = _now()
    session_id = f"{name}-{secrets.token_hex(9)[:17]}"
    header = f"Script started on {start.strftime('%Y-%m-%dT%H:%M:%SZ')} [session {session_id} on {target} as {run_as}]\n"
    session = Session(
        session_id=session_id,
        target=target,
        document_name=document_name,
        owner=owner,
        owner_userid=userid,
        run_as=run_as,
        recording=recording,
        start=start,
        reason=self._get_param("Reason"),
        max_duration=str(inputs["maxSessionDuration"]) if inputs.get("maxSessionDuration") else None,
        token=secrets.token_urlsafe(96),
        transcript=[header],
        failure=failure,
    )
    if failure:
        session.status, session.end = "Failed", start
    with lock:
        _sessions(account, region)[session.session_id] = session
    return ActionResult({"SessionId": session.session_id, "TokenValue": session.token, "StreamUrl": _stream_url(region, session)})


def _stream_url(region: str, session: Session) -> str:
    return f"wss://ssmmessages.{region}.amazonaws.com/v1/data-channel/{session.session_id}?role=publish_subscribe"


# --- DescribeSessions ---------------------------------------------------------------------------


def _date(value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _error("ValidationException", f"The filter value {value} isn't a valid timestamp (e.g. 2024-08-29T00:00:00Z).")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _matches(session: Session, key: str, value: str) -> bool:
    if key == "InvokedAfter":
        return session.start >= _date(value)
    if key == "InvokedBefore":
        return session.start < _date(value)
    if key == "AccessType":
        return value == "Standard"
    return {"Target": session.target, "Owner": session.owner, "Status": session.status, "SessionId": session.session_id}[key] == value


def describe(session: Session) -> dict:
    out = {
        "SessionId": session.session_id,
        "Target": session.target,
        "Status": session.status,
        "StartDate": session.start,
        "DocumentName": session.document_name,
        "Owner": session.owner,
    }
    if session.end is not None:
        out["EndDate"] = session.end
    if session.reason:
        out["Reason"] = session.reason
    if session.max_duration:
        out["MaxSessionDuration"] = session.max_duration
    if session.output_url:
        out["OutputUrl"] = {"S3OutputUrl": session.output_url}
    return out


def describe_sessions(self):
    from moto.core.responses import ActionResult

    wanted = self._get_param("State")
    if wanted not in ("Active", "History"):
        raise _error("ValidationException", f"1 validation error detected: Value '{wanted}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [Active, History]")
    filters = [(f.get("key"), str(f.get("value", ""))) for f in self._get_param("Filters") or []]
    for key, _ in filters:
        if key not in FILTER_KEYS:
            raise _error("InvalidFilterKey", f"The filter key {key} isn't valid.")
    with lock:
        sessions = list(_sessions(self.current_account, self.region).values())
    chosen = [
        s
        for s in sessions
        if (s.status in ACTIVE) == (wanted == "Active") and all(_matches(s, k, v) for k, v in filters)
    ]
    chosen.sort(key=lambda s: (s.start, s.seq), reverse=True)
    items, token = ssm_agents.page(
        chosen, self._get_param("MaxResults"), self._get_param("NextToken"), 1, 200, 20, lambda m: _error("InvalidNextToken", m)
    )
    result = {"Sessions": [describe(s) for s in items]}
    if token:
        result["NextToken"] = token
    return ActionResult(result)


# --- TerminateSession, ResumeSession ----------------------------------------------------------


def transcript_key(prefix: str | None, session_id: str) -> str:
    """Go's path.Join(prefix, sessionId+".log") as the agent computes it (fileutil.BuildS3Path in
    amazon-ssm-agent, called from shell.go finishLogging; the user guide's "Logging session data
    using Amazon S3" names only the bucket and prefix): duplicate and trailing slashes go."""
    name = session_id.replace(":", "") + ".log"
    key = posixpath.normpath(f"{prefix}/{name}" if prefix else name)
    return key[1:] if key.startswith("//") else key


def _upload(account: str, partition: str, region: str, session: Session) -> None:
    from moto.s3.models import s3_backends

    name = session.recording.get("s3BucketName")
    bucket = _bucket(account, partition, name) if name else None
    if bucket is None:
        session.failure = session.failure or f"Failed to upload shell session logs to S3: no bucket {name}"
        return
    key = transcript_key(session.recording.get("s3KeyPrefix"), session.session_id)
    # The bucket's default encryption (moto applies it), else SSE-S3 as S3 now does for all.
    encryption = None if bucket.encryption else "AES256"
    s3 = s3_backends[bucket.account_id][partition]
    obj = s3.put_object(name, key, "".join(session.transcript).encode(), encryption=encryption)
    obj.set_metadata({"Content-Type": "text/plain"})
    session.output_url = f"https://{region}.console.aws.amazon.com/s3/object/{name}/{key}"


def end_session(account: str, partition: str, region: str, session: Session) -> None:
    session.status, session.end = "Terminated", _now()
    if session.recording.get("s3BucketName"):
        _upload(account, partition, region, session)


def terminate_session(self):
    from moto.core.responses import ActionResult

    session_id = str(self._get_param("SessionId") or "")
    with lock:
        session = _sessions(self.current_account, self.region).get(session_id)
        if session is not None and session.status in ACTIVE:
            end_session(self.current_account, self.partition, self.region, session)
    return ActionResult({"SessionId": session_id})


def resume_session(self):
    from moto.core.responses import ActionResult

    session_id = str(self._get_param("SessionId") or "")
    with lock:
        session = _sessions(self.current_account, self.region).get(session_id)
        if session is None:
            raise _error("DoesNotExistException", f"Session with id {session_id} does not exist.")
        if session.status not in ACTIVE:
            raise _error("ValidationException", "Session is not in a valid state")
        session.token = secrets.token_urlsafe(96)
    return ActionResult({"SessionId": session_id, "TokenValue": session.token, "StreamUrl": _stream_url(self.region, session)})


# --- the control endpoint ---------------------------------------------------------------------


def session_input(request, full_url, headers):
    if request.method != "POST":
        return json_answer(405, {"message": "POST the session's input"})
    try:
        body = read_json(request)
        account, region = str(body.get("AccountId", "")), str(body.get("Region", ""))
        session_id, text = body.get("SessionId"), body.get("Text")
        if not isinstance(session_id, str) or not isinstance(text, str):
            raise ValueError("SessionId and Text must be strings")
        if not (len(account) == 12 and account.isdigit()):
            raise ValueError("AccountId must be 12 digits")
        sessions = _sessions(account, region)
    except KeyError:
        return json_answer(404, {"message": f"no session {body.get('SessionId')} in {body.get('AccountId')} {body.get('Region')}"})
    except ValueError as e:
        return json_answer(400, {"message": str(e)})
    with lock:
        session = sessions.get(session_id)
        if session is None or session.status not in ACTIVE:
            return json_answer(404, {"message": f"no live session {session_id} in {account} {region}"})
        session.transcript.append(text)
        size = len("".join(session.transcript).encode())
    return json_answer(200, {"SessionId": session_id, "Bytes": size})


def apply() -> None:
    from moto.moto_api._internal import urls
    from moto.ssm.responses import SimpleSystemManagerResponse as R

    urls.url_paths[SESSION_INPUT_PATH] = session_input
    R._determine_resource = _determine_resource
    R._authenticate_and_authorize_normal_action = _make_authorize(R._authenticate_and_authorize_normal_action)
    R.start_session = start_session
    R.describe_sessions = describe_sessions
    R.terminate_session = terminate_session
    R.resume_session = resume_session
