"""Managed nodes: SSM Agent registrations and DescribeInstanceInformation, which moto lacks.

On AWS the SSM Agent on a node registers itself (ssm:UpdateInstanceInformation, signed with the
node's credentials) and keeps pinging Systems Manager; DescribeInstanceInformation lists the
nodes so registered, and Session Manager connects only to those that are Online. No agent runs
here, so a control endpoint (unsigned, like the rest of moto's /moto-api) stands for it:

    POST /moto-api/cib/ssm/agents
    {"AccountId": "123456789012", "Region": "us-east-1", "InstanceId": "i-…" | "mi-…",
     "AgentVersion": "3.2.582.0", "PlatformType": "Linux", "PlatformName": "Amazon Linux",
     "PlatformVersion": "2023", "PingStatus": "Online" | "ConnectionLost",
     "ComputerName": …, "IPAddress": …, "IamRole": …}          (the last three for mi- nodes)

Registering again replaces the registration (a new agent version, a lost connection). Which
registered nodes are managed follows AWS:
- an EC2 instance (i-…) only while it exists in that account and Region (moto's ec2 backend),
  is running, and has an IAM instance profile, given at RunInstances or associated later: the
  agent authenticates with the profile's role, without one it cannot register (Session Manager's
  first prerequisite). Stopped and terminated instances are not returned at all (API reference:
  "This operation does not return information for nodes that are either Stopped or Terminated";
  aws/amazon-ssm-agent#407: ConnectionLost is a *running* node failing its health checks, which
  the PingStatus field of the registration stands for). ComputerName and IPAddress come from
  the instance (private DNS name, private IP). IamRole is not returned for EC2 instances: AWS
  fills it only for Quick Setup host management and on-premises nodes (API reference).
- a hybrid-activation node (mi-…) as registered, ResourceType ManagedInstance.
Not checked: that the profile's role allows what the agent calls (AmazonSSMManagedInstanceCore).

Tags of managed nodes (AddTagsToResource, ListTagsForResource, RemoveTagsFromResource with
ResourceType ManagedInstance), which moto always refuses with InvalidResourceId: a registered
mi- node of the account and Region has tags; an unregistered one is InvalidResourceId; any other
id, an EC2 instance's included, is refused as AWS refuses it, ValidationException "resourceId
should be in format mi-[0-9a-f]{17} for resource type ManagedInstance" (boto/boto3#4265, #4609:
an EC2 instance's tags are EC2's).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
from dataclasses import dataclass

AGENTS_PATH = "{0}/moto-api/cib/ssm/agents"
_INSTANCE_ID = re.compile(r"^(i-[0-9a-f]{8}([0-9a-f]{9})?|mi-[0-9a-f]{17})$")
_HYBRID_ID = re.compile(r"^mi-[0-9a-f]{17}$")
_AGENT_VERSION = re.compile(r"^[0-9]{1,6}(\.[0-9]{1,6}){2,3}$")
_ACCOUNT = re.compile(r"^[0-9]{12}$")
PLATFORM_TYPES = ("Linux", "Windows", "MacOS")
PING_STATUSES = ("Online", "ConnectionLost", "Inactive")
_FILTER_FIELDS = {
    "InstanceIds": "InstanceId",
    "PingStatus": "PingStatus",
    "PlatformTypes": "PlatformType",
    "ResourceType": "ResourceType",
    "AgentVersion": "AgentVersion",
    "IamRole": "IamRole",
    "ActivationIds": "ActivationId",
    "AssociationStatus": "AssociationStatus",
}

lock = threading.RLock()  # the server is threaded; shared with ssm_sessions


@dataclass
class Agent:
    instance_id: str
    agent_version: str
    platform_type: str
    platform_name: str
    platform_version: str
    ping_status: str
    registered_at: dt.datetime
    computer_name: str | None = None
    ip_address: str | None = None
    iam_role: str | None = None


def ssm_backend(account: str, region: str):
    from moto.ssm.models import ssm_backends

    return ssm_backends[account][region]


def state(backend, name: str) -> dict:
    """Our per account-and-Region state, kept on moto's SSM backend (a reset clears it)."""
    with lock:
        return backend.__dict__.setdefault(name, {})


# --- the control endpoint ---------------------------------------------------------------------


def json_answer(status: int, body: dict):
    return status, {"Content-Type": "application/json"}, json.dumps(body)


def read_json(request) -> dict:
    try:
        body = json.loads(request.get_data(as_text=True) or "{}")
    except ValueError:
        raise ValueError("the body is not JSON")
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def register_agent(request, full_url, headers):
    if request.method != "POST":
        return json_answer(405, {"message": "POST a registration"})
    try:
        body = read_json(request)
        account, region = str(body.get("AccountId", "")), str(body.get("Region", ""))
        if not _ACCOUNT.match(account):
            raise ValueError("AccountId must be 12 digits")
        try:
            backend = ssm_backend(account, region)
        except KeyError:
            raise ValueError(f"unknown Region {region!r}")
        instance_id = str(body.get("InstanceId", ""))
        if not _INSTANCE_ID.match(instance_id):
            raise ValueError("InstanceId must be i-<8 or 17 hex> or mi-<17 hex>")
        version = str(body.get("AgentVersion", ""))
        if not _AGENT_VERSION.match(version):
            raise ValueError("AgentVersion must look like 3.2.582.0")
        platform = body.get("PlatformType", "Linux")
        if platform not in PLATFORM_TYPES:
            raise ValueError(f"PlatformType must be one of {PLATFORM_TYPES}")
        ping = body.get("PingStatus", "Online")
        if ping not in PING_STATUSES:
            raise ValueError(f"PingStatus must be one of {PING_STATUSES}")
    except ValueError as e:
        return json_answer(400, {"message": str(e)})
    hybrid = instance_id.startswith("mi-")
    agent = Agent(
        instance_id=instance_id,
        agent_version=version,
        platform_type=platform,
        platform_name=str(body.get("PlatformName", "Amazon Linux")),
        platform_version=str(body.get("PlatformVersion", "2023")),
        ping_status=ping,
        registered_at=dt.datetime.now(dt.timezone.utc),
        computer_name=body.get("ComputerName") if hybrid else None,
        ip_address=body.get("IPAddress") if hybrid else None,
        iam_role=body.get("IamRole") if hybrid else None,
    )
    with lock:
        state(backend, "_cib_agents")[instance_id] = agent
    return json_answer(200, {"InstanceId": instance_id, "AgentVersion": version, "PingStatus": ping})


# --- what DescribeInstanceInformation and StartSession see ------------------------------------


def _instance_profile_role(ec2, instance) -> str | None:
    """The role of the instance's IAM instance profile: None without a profile, or with a profile
    holding no role (the agent then has no credentials either)."""
    association = ec2.iam_instance_profile_associations.get(instance.id)
    roles = getattr(association.iam_instance_profile, "roles", None) if association is not None else None
    return roles[0].name if roles else None


def node_information(account: str, region: str, instance_id: str) -> dict | None:
    """The node's InstanceInformation as DescribeInstanceInformation lists it, None if not managed."""
    with lock:
        agent = state(ssm_backend(account, region), "_cib_agents").get(instance_id)
    if agent is None:
        return None
    info = {
        "InstanceId": agent.instance_id,
        "PingStatus": agent.ping_status,
        "LastPingDateTime": agent.registered_at,
        "AgentVersion": agent.agent_version,
        "IsLatestVersion": False,
        "PlatformType": agent.platform_type,
        "PlatformName": agent.platform_name,
        "PlatformVersion": agent.platform_version,
    }
    if instance_id.startswith("mi-"):
        info.update(ResourceType="ManagedInstance", RegistrationDate=agent.registered_at)
        info.update(SourceId=instance_id, SourceType="AWS::SSM::ManagedInstance")
        for field, value in (("IamRole", agent.iam_role), ("ComputerName", agent.computer_name), ("IPAddress", agent.ip_address)):
            if value:
                info[field] = value
        return info
    from moto.ec2.models import ec2_backends

    try:
        ec2 = ec2_backends[account][region]
        instance = ec2.get_instance(instance_id)
    except Exception:
        return None  # no such instance in this account and Region
    if instance.state != "running" or _instance_profile_role(ec2, instance) is None:
        return None
    info.update(ResourceType="EC2Instance", SourceId=instance_id, SourceType="AWS::EC2::Instance")
    info["ComputerName"] = instance.private_dns_name
    if instance.private_ip:
        info["IPAddress"] = instance.private_ip
    return info


def managed_nodes(account: str, region: str) -> list[dict]:
    with lock:
        ids = sorted(state(ssm_backend(account, region), "_cib_agents"))
    return [info for i in ids if (info := node_information(account, region, i)) is not None]


# --- pagination shared with ssm_sessions ------------------------------------------------------


def page(items: list, max_results, next_token, low: int, high: int, default: int, token_error):
    """One page of `items` and the token of the next (None at the end)."""
    from moto.ssm.exceptions import ValidationException

    size = default if max_results is None else int(max_results)
    if not low <= size <= high:
        raise ValidationException(
            f"1 validation error detected: Value '{size}' at 'maxResults' failed to satisfy constraint: "
            f"Member must have value between {low} and {high}"
        )
    start = 0
    if next_token:
        try:
            start = int(base64.urlsafe_b64decode(next_token.encode()).decode())
        except Exception:
            raise token_error("The specified token isn't valid.")
        if not 0 <= start <= len(items):
            raise token_error("The specified token isn't valid.")
    end = start + size
    token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], token


def _error(code: str, message: str):
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(code, message)


def _filters(self) -> list[tuple[str, list[str]]]:
    out = []
    for f in self._get_param("InstanceInformationFilterList") or []:
        out.append((f.get("key"), f.get("valueSet") or []))
    for f in self._get_param("Filters") or []:
        out.append((f.get("Key"), f.get("Values") or []))
    for key, values in out:
        if key not in _FILTER_FIELDS:
            raise _error("InvalidFilterKey", f"The filter key {key} isn't valid (supported here: {', '.join(_FILTER_FIELDS)}).")
        if not values:
            raise _error("InvalidInstanceInformationFilterValue", f"The filter {key} needs at least one value.")
    return out


def describe_instance_information(self):
    from moto.core.responses import ActionResult

    filters = _filters(self)
    nodes = [n for n in managed_nodes(self.current_account, self.region) if all(n.get(_FILTER_FIELDS[k]) in v for k, v in filters)]
    items, token = page(
        nodes,
        self._get_param("MaxResults"),
        self._get_param("NextToken"),
        5,
        50,
        50,
        lambda m: _error("InvalidNextToken", m),
    )
    result = {"InstanceInformationList": items}
    if token:
        result["NextToken"] = token
    return ActionResult(result)


def _make_validate(original):
    def _validate_resource_type_and_id(self, resource_type: str, resource_id: str) -> str:
        if resource_type != "ManagedInstance":
            return original(self, resource_type, resource_id)
        from moto.ssm.exceptions import InvalidResourceId, ValidationException

        if not _HYBRID_ID.match(resource_id):
            raise ValidationException("resourceId should be in format mi-[0-9a-f]{17} for resource type ManagedInstance")
        with lock:
            if resource_id not in state(self, "_cib_agents"):
                raise InvalidResourceId()
        return resource_id

    return _validate_resource_type_and_id


def apply() -> None:
    from moto.moto_api._internal import urls
    from moto.ssm.models import SimpleSystemManagerBackend as B
    from moto.ssm.responses import SimpleSystemManagerResponse

    # The moto_api Flask app is built from url_paths at its first request, after this.
    urls.url_paths[AGENTS_PATH] = register_agent
    SimpleSystemManagerResponse.describe_instance_information = describe_instance_information
    B._validate_resource_type_and_id = _make_validate(B._validate_resource_type_and_id)
