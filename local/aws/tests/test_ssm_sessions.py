"""Session Manager end to end: the real server (conftest's `aws`), boto3, real keys.

Cases from AWS's Session Manager documentation: "Sample IAM policies for Session Manager" (the
end user quickstart policy), "Additional sample IAM policies" (restrict access to specific
managed nodes; end only the sessions one started, by ARN or by the aws:ssmmessages:session-id
tag), "Enforce a session document permission check for the AWS CLI", "Turn on Run As support for
Linux and macOS managed nodes", "Logging session data using Amazon S3", plus the API reference
of DescribeInstanceInformation and DescribeSessions. Preferences are regional, so each test that
sets them works in a Region of its own.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import ACCOUNT, ALLOW_ALL, OTHER, REGION, Aws, Keys, assume, code, role, trust, unique, user_with_key

PREFERENCES = "SSM-SessionManagerRunShell"
# AWS's preferences document: sessionType Standard_Stream and these inputs
# ("Create a Session Manager preferences document (command line)").
BLANK_INPUTS = {
    "s3BucketName": "",
    "s3KeyPrefix": "",
    "s3EncryptionEnabled": True,
    "cloudWatchLogGroupName": "",
    "cloudWatchEncryptionEnabled": True,
    "cloudWatchStreamingEnabled": False,
    "kmsKeyId": "",
    "runAsEnabled": False,
    "runAsDefaultUser": "",
    "idleSessionTimeout": "20",
    "maxSessionDuration": "",
    "shellProfile": {"windows": "", "linux": ""},
}


def client(aws: Aws, service: str, keys: Keys, region: str = REGION):
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=aws.endpoint,
        aws_access_key_id=keys.id,
        aws_secret_access_key=keys.secret,
        aws_session_token=keys.token,
        config=Config(retries={"max_attempts": 1}),
    )


def control(aws: Aws, path: str, body: dict, method: str = "POST") -> tuple[int, dict]:
    """The local-only control endpoints: plain, unsigned HTTP."""
    request = urllib.request.Request(
        f"{aws.endpoint}/moto-api/cib/ssm/{path}", data=json.dumps(body).encode(), method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def agent(aws: Aws, instance_id: str, account: str = ACCOUNT, region: str = REGION, **fields) -> None:
    status, body = control(aws, "agents", {"AccountId": account, "Region": region, "InstanceId": instance_id, "AgentVersion": "3.2.582.0", **fields})
    assert status == 200, body


def type_in(aws: Aws, session_id: str, text: str, region: str = REGION, account: str = ACCOUNT) -> int:
    return control(aws, "session-input", {"AccountId": account, "Region": region, "SessionId": session_id, "Text": text})[0]


def hybrid_id() -> str:
    return "mi-" + uuid.uuid4().hex[:17]


def instance(aws: Aws, region: str = REGION, profile: bool = True, admin: Keys | None = None) -> str:
    """A running EC2 instance, with an IAM instance profile (its role: what the agent uses) or not."""
    admin = admin or aws.admin
    kwargs = {}
    if profile:
        iam = client(aws, "iam", admin)
        name = unique("SSMInstance")
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}))
        iam.create_instance_profile(InstanceProfileName=name)
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
        kwargs["IamInstanceProfile"] = {"Name": name}
    out = client(aws, "ec2", admin, region).run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, **kwargs)
    return out["Instances"][0]["InstanceId"]


def managed(aws: Aws, region: str = REGION, profile: bool = True) -> str:
    """An instance with a profile whose agent registered: Online."""
    instance_id = instance(aws, region, profile)
    agent(aws, instance_id, region=region)
    return instance_id


def node_ids(aws: Aws, keys: Keys, region: str = REGION, **kwargs) -> dict[str, dict]:
    out = client(aws, "ssm", keys, region).describe_instance_information(**kwargs)
    return {n["InstanceId"]: n for n in out["InstanceInformationList"]}


def instance_arn(instance_id: str, region: str = REGION) -> str:
    return f"arn:aws:ec2:{region}:{ACCOUNT}:instance/{instance_id}"


def document_arn(name: str, region: str = REGION) -> str:
    return f"arn:aws:ssm:{region}:{ACCOUNT}:document/{name}"


def policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def preferences(aws: Aws, region: str, **inputs) -> None:
    content = json.dumps(
        {"schemaVersion": "1.0", "description": "Document to hold regional settings for Session Manager", "sessionType": "Standard_Stream", "inputs": {**BLANK_INPUTS, **inputs}}
    )
    client(aws, "ssm", aws.admin, region).create_document(Name=PREFERENCES, Content=content, DocumentType="Session", DocumentFormat="JSON")


def bucket(aws: Aws, encryption: dict | None = None) -> str:
    name = unique("session-logs")
    s3 = client(aws, "s3", aws.admin)
    s3.create_bucket(Bucket=name)
    if encryption:
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": encryption}]})
    return name


def transcript(aws: Aws, bucket_name: str, key: str) -> tuple[str, dict]:
    obj = client(aws, "s3", aws.admin).get_object(Bucket=bucket_name, Key=key)
    return obj["Body"].read().decode(), obj


def sessions(aws: Aws, keys: Keys, state: str, region: str = REGION, **filters) -> list[dict]:
    out = client(aws, "ssm", keys, region).describe_sessions(State=state, Filters=[{"key": k, "value": v} for k, v in filters.items()])
    return out["Sessions"]


# The end user quickstart policy ("Sample IAM policies for Session Manager"), for one instance.
def end_user_policy(instance_id: str, document_check: bool = True) -> str:
    start = {"Effect": "Allow", "Action": ["ssm:StartSession"], "Resource": [instance_arn(instance_id), document_arn(PREFERENCES)]}
    if document_check:
        start["Condition"] = {"BoolIfExists": {"ssm:SessionDocumentAccessCheck": "true"}}
    return policy(
        start,
        {"Effect": "Allow", "Action": ["ssm:DescribeSessions", "ssm:GetConnectionStatus", "ssm:DescribeInstanceProperties", "ec2:DescribeInstances"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["ssm:TerminateSession", "ssm:ResumeSession"], "Resource": ["arn:aws:ssm:*:*:session/${aws:username}-*"]},
    )


# ---------------------------------------------------------------------------------------------


def test_control_endpoints_answer_through_the_moto_api_app(aws):
    status, body = control(aws, "agents", {"AccountId": ACCOUNT, "Region": REGION, "InstanceId": "i-nothex", "AgentVersion": "3.2.582.0"})
    assert status == 400 and "InstanceId" in body["message"]
    status, _ = control(aws, "agents", {"AccountId": ACCOUNT, "Region": "nowhere-1", "InstanceId": hybrid_id(), "AgentVersion": "3.2.582.0"})
    assert status == 400
    status, _ = control(aws, "agents", {"AccountId": ACCOUNT, "Region": REGION, "InstanceId": hybrid_id(), "AgentVersion": "three"})
    assert status == 400
    node = hybrid_id()
    assert control(aws, "agents", {"AccountId": ACCOUNT, "Region": REGION, "InstanceId": node, "AgentVersion": "3.2.582.0"}) == (
        200,
        {"InstanceId": node, "AgentVersion": "3.2.582.0", "PingStatus": "Online"},
    )
    assert control(aws, "agents", {}, method="GET")[0] == 405
    assert type_in(aws, "nobody-0123456789abcdef0", "ls\n") == 404
    assert control(aws, "session-input", {"AccountId": ACCOUNT, "Region": REGION, "SessionId": 1, "Text": "x"})[0] == 400
    # moto's own control namespace still answers beside ours.
    with urllib.request.urlopen(f"{aws.endpoint}/moto-api/data.json") as answer:
        assert answer.status == 200


def test_preferences_document_is_a_session_document_read_at_its_default_version(aws):
    region = "eu-west-3"
    ssm = client(aws, "ssm", aws.admin, region)
    bucket_name = bucket(aws)
    preferences(aws, region, s3BucketName=bucket_name, runAsEnabled=True, runAsDefaultUser="alice")
    described = ssm.describe_document(Name=PREFERENCES)["Document"]
    assert (described["DocumentType"], described["DefaultVersion"], described["LatestVersion"]) == ("Session", "1", "1")
    assert json.loads(ssm.get_document(Name=PREFERENCES)["Content"])["inputs"]["runAsDefaultUser"] == "alice"
    # "Update Session Manager preferences (command line)": update-document --document-version $LATEST.
    content = json.loads(ssm.get_document(Name=PREFERENCES)["Content"])
    content["inputs"]["runAsDefaultUser"] = "bob"
    assert ssm.update_document(Name=PREFERENCES, Content=json.dumps(content), DocumentVersion="$LATEST")["DocumentDescription"]["DocumentVersion"] == "2"
    assert ssm.describe_document(Name=PREFERENCES)["Document"]["DefaultVersion"] == "1"
    instance_id = managed(aws, region)

    def run_as() -> str:
        session_id = ssm.start_session(Target=instance_id)["SessionId"]
        ssm.terminate_session(SessionId=session_id)
        return transcript(aws, bucket_name, f"{session_id}.log")[0].split(" as ")[-1].rstrip("]\n")

    assert run_as() == "alice"  # still version 1, the default
    ssm.update_document_default_version(Name=PREFERENCES, DocumentVersion="2")
    assert run_as() == "bob"
    assert json.loads(ssm.get_document(Name=PREFERENCES, DocumentVersion="1")["Content"])["inputs"]["runAsDefaultUser"] == "alice"


def test_restrict_access_to_specific_managed_nodes(aws):
    allowed, other = managed(aws), managed(aws)
    name = unique("user")
    _, keys = user_with_key(aws, name, end_user_policy(allowed))
    ssm = client(aws, "ssm", keys)
    out = ssm.start_session(Target=allowed, DocumentName=PREFERENCES, Reason="ticket 42")
    assert out["SessionId"].startswith(f"{name}-") and len(out["SessionId"]) == len(name) + 18
    assert out["StreamUrl"] == f"wss://ssmmessages.{REGION}.amazonaws.com/v1/data-channel/{out['SessionId']}?role=publish_subscribe"
    assert len(out["TokenValue"]) > 64
    with pytest.raises(ClientError) as e:
        ssm.start_session(Target=other, DocumentName=PREFERENCES)  # a node not in the policy
    assert code(e) == "AccessDeniedException"
    assert f"ssm:StartSession on resource: {instance_arn(other)}" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        ssm.start_session(Target=allowed, DocumentName="AWS-StartPortForwardingSession")  # a document not allowed
    assert code(e) == "AccessDeniedException"
    assert f"arn:aws:ssm:{REGION}::document/AWS-StartPortForwardingSession" in e.value.response["Error"]["Message"]
    # With the document check condition, leaving out --document-name is refused.
    with pytest.raises(ClientError) as e:
        ssm.start_session(Target=allowed)
    assert code(e) == "AccessDeniedException"
    listed = sessions(aws, keys, "Active", SessionId=out["SessionId"])
    assert [(s["Target"], s["Status"], s["DocumentName"], s["Owner"], s["Reason"]) for s in listed] == [
        (allowed, "Connected", PREFERENCES, f"arn:aws:iam::{ACCOUNT}:user/{name}", "ticket 42")
    ]
    assert ssm.terminate_session(SessionId=out["SessionId"])["SessionId"] == out["SessionId"]  # its own: ${aws:username}-*


def test_without_document_name_no_document_permission_is_needed(aws):
    # "Enforce a session document permission check for the AWS CLI": without the condition, a
    # session with the default document starts even if no policy grants the document.
    node = managed(aws)
    _, keys = user_with_key(aws, unique("nodoc"), policy({"Effect": "Allow", "Action": "ssm:StartSession", "Resource": instance_arn(node)}))
    ssm = client(aws, "ssm", keys)
    assert sessions(aws, aws.admin, "Active", SessionId=ssm.start_session(Target=node)["SessionId"])[0]["DocumentName"] == PREFERENCES
    with pytest.raises(ClientError) as e:
        ssm.start_session(Target=node, DocumentName=PREFERENCES)  # named: its permission is checked
    assert code(e) == "AccessDeniedException"


def test_end_only_the_sessions_one_started(aws):
    node = managed(aws)
    alice, bob = unique("alice"), unique("bob")
    _, alice_keys = user_with_key(aws, alice, end_user_policy(node))
    _, bob_keys = user_with_key(aws, bob, end_user_policy(node))
    alices = client(aws, "ssm", alice_keys).start_session(Target=node, DocumentName=PREFERENCES)["SessionId"]
    bobs = client(aws, "ssm", bob_keys).start_session(Target=node, DocumentName=PREFERENCES)["SessionId"]
    with pytest.raises(ClientError) as e:
        client(aws, "ssm", bob_keys).terminate_session(SessionId=alices)  # session/${aws:username}-*
    assert code(e) == "AccessDeniedException"
    assert f"arn:aws:ssm:{REGION}:{ACCOUNT}:session/{alices}" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        client(aws, "ssm", bob_keys).resume_session(SessionId=alices)
    assert code(e) == "AccessDeniedException"
    assert client(aws, "ssm", bob_keys).resume_session(SessionId=bobs)["SessionId"] == bobs
    assert client(aws, "ssm", bob_keys).terminate_session(SessionId=bobs)["SessionId"] == bobs
    assert client(aws, "ssm", alice_keys).terminate_session(SessionId=alices)["SessionId"] == alices
    assert {s["SessionId"] for s in sessions(aws, aws.admin, "History", Owner=f"arn:aws:iam::{ACCOUNT}:user/{bob}")} == {bobs}


def test_assumed_role_session_policy_and_revocation(aws):
    allowed, other = managed(aws), managed(aws)
    name = unique("caller")
    user_arn, user_keys = user_with_key(aws, name, ALLOW_ALL)
    role_name = unique("Operator")
    # The role allows every instance and document; ending sessions: by the session tag AWS
    # sets ("Additional sample IAM policies": ssm:resourceTag/aws:ssmmessages:session-id).
    role_arn = role(
        aws,
        role_name,
        trust({"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}),
        policy(
            {"Effect": "Allow", "Action": "ssm:StartSession", "Resource": [f"arn:aws:ec2:*:{ACCOUNT}:instance/*", f"arn:aws:ssm:*:{ACCOUNT}:document/*"]},
            {"Effect": "Allow", "Action": "ssm:DescribeSessions", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": ["ssm:TerminateSession", "ssm:ResumeSession"],
                "Resource": "*",
                "Condition": {"StringLike": {"ssm:resourceTag/aws:ssmmessages:session-id": ["${aws:userid}"]}},
            },
        ),
    )
    session_policy = policy(
        {"Effect": "Allow", "Action": "ssm:StartSession", "Resource": [instance_arn(allowed), document_arn(PREFERENCES)]},
        {"Effect": "Allow", "Action": ["ssm:DescribeSessions", "ssm:TerminateSession", "ssm:ResumeSession"], "Resource": "*"},
    )
    keys = assume(aws, user_keys, role_arn, "cib-AAAA", Policy=session_policy)
    other_keys = assume(aws, user_keys, role_arn, "cib-BBBB", Policy=session_policy)
    ssm = client(aws, "ssm", keys)
    session_id = ssm.start_session(Target=allowed, DocumentName=PREFERENCES)["SessionId"]
    assert session_id.startswith("cib-AAAA-")
    assert sessions(aws, keys, "Active", SessionId=session_id)[0]["Owner"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/cib-AAAA"
    with pytest.raises(ClientError) as e:
        ssm.start_session(Target=other, DocumentName=PREFERENCES)  # the role allows it, the session policy not
    assert code(e) == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        client(aws, "ssm", other_keys).terminate_session(SessionId=session_id)  # another session's
    assert code(e) == "AccessDeniedException"
    # The broker's revocation: a Deny on the session's aws:userid.
    deny = {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"StringLike": {"aws:userid": ["*:cib-AAAA"]}}}
    client(aws, "iam", aws.admin).put_role_policy(RoleName=role_name, PolicyName="CloudIamBrokerRevocations", PolicyDocument=policy(deny))
    with pytest.raises(ClientError) as e:
        ssm.start_session(Target=allowed, DocumentName=PREFERENCES)
    assert code(e) == "AccessDeniedException"
    assert "explicit deny" in e.value.response["Error"]["Message"]
    client(aws, "ssm", other_keys).start_session(Target=allowed, DocumentName=PREFERENCES)  # the other session still may
    # What the revoked session started can still be ended by the broker (an admin).
    assert client(aws, "ssm", aws.admin).terminate_session(SessionId=session_id)["SessionId"] == session_id
    assert sessions(aws, aws.admin, "History", SessionId=session_id)[0]["Status"] == "Terminated"


def test_instance_information(aws):
    admin_ssm = client(aws, "ssm", aws.admin)
    online = managed(aws)
    info = node_ids(aws, aws.admin)[online]
    ec2 = client(aws, "ec2", aws.admin).describe_instances(InstanceIds=[online])["Reservations"][0]["Instances"][0]
    assert info["PingStatus"] == "Online" and info["ResourceType"] == "EC2Instance" and info["IsLatestVersion"] is False
    assert (info["AgentVersion"], info["PlatformType"], info["PlatformName"], info["PlatformVersion"]) == ("3.2.582.0", "Linux", "Amazon Linux", "2023")
    assert (info["ComputerName"], info["IPAddress"]) == (ec2["PrivateDnsName"], ec2["PrivateIpAddress"])
    assert "IamRole" not in info  # AWS fills it for Quick Setup and on-premises nodes only

    # No instance profile: the agent cannot authenticate, the node is not managed.
    bare = managed(aws, profile=False)
    assert bare not in node_ids(aws, aws.admin)
    with pytest.raises(ClientError) as e:
        admin_ssm.start_session(Target=bare)
    assert code(e) == "TargetNotConnected"
    assert e.value.response["Error"]["Message"] == f"{bare} is not connected."
    # ... until a profile is associated.
    iam = client(aws, "iam", aws.admin)
    profile = unique("Later")
    iam.create_role(RoleName=profile, AssumeRolePolicyDocument=trust({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}))
    iam.create_instance_profile(InstanceProfileName=profile)
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=profile)
    client(aws, "ec2", aws.admin).associate_iam_instance_profile(IamInstanceProfile={"Name": profile}, InstanceId=bare)
    assert node_ids(aws, aws.admin)[bare]["PingStatus"] == "Online"

    # Stopped: not returned at all (API reference); a session cannot start.
    client(aws, "ec2", aws.admin).stop_instances(InstanceIds=[online])
    assert online not in node_ids(aws, aws.admin)
    with pytest.raises(ClientError) as e:
        admin_ssm.start_session(Target=online)
    assert code(e) == "TargetNotConnected"
    client(aws, "ec2", aws.admin).start_instances(InstanceIds=[online])
    assert node_ids(aws, aws.admin)[online]["PingStatus"] == "Online"

    # A running node whose agent lost its connection: ConnectionLost; re-registering replaces.
    agent(aws, online, PingStatus="ConnectionLost")
    assert node_ids(aws, aws.admin)[online]["PingStatus"] == "ConnectionLost"
    assert online in node_ids(aws, aws.admin, Filters=[{"Key": "PingStatus", "Values": ["ConnectionLost"]}])
    assert online not in node_ids(aws, aws.admin, Filters=[{"Key": "PingStatus", "Values": ["Online"]}])
    with pytest.raises(ClientError) as e:
        admin_ssm.start_session(Target=online)
    assert code(e) == "TargetNotConnected"
    agent(aws, online, AgentVersion="3.3.40.0")
    info = node_ids(aws, aws.admin)[online]
    assert (info["PingStatus"], info["AgentVersion"]) == ("Online", "3.3.40.0")

    # Hybrid activation nodes are listed as registered.
    hybrid = hybrid_id()
    agent(aws, hybrid, PlatformName="Ubuntu", PlatformVersion="22.04", IamRole="SSMServiceRole", ComputerName="build-01", IPAddress="10.0.0.7")
    info = node_ids(aws, aws.admin)[hybrid]
    assert (info["ResourceType"], info["PingStatus"], info["IamRole"], info["ComputerName"], info["IPAddress"]) == ("ManagedInstance", "Online", "SSMServiceRole", "build-01", "10.0.0.7")
    hybrid_session = admin_ssm.start_session(Target=hybrid)["SessionId"]
    with pytest.raises(ClientError) as e:
        client(aws, "ssm", user_with_key(aws, unique("mi"), end_user_policy(online))[1]).start_session(Target=hybrid, DocumentName=PREFERENCES)
    assert code(e) == "AccessDeniedException"
    assert f"arn:aws:ssm:{REGION}:{ACCOUNT}:managed-instance/{hybrid}" in e.value.response["Error"]["Message"]
    admin_ssm.terminate_session(SessionId=hybrid_session)

    # An id no instance has, and another account's instance, are not managed here.
    ghost = "i-" + uuid.uuid4().hex[:17]
    agent(aws, ghost)
    theirs = instance(aws, admin=aws.other_admin)
    agent(aws, theirs)  # registered under our account: no such instance here
    nodes = node_ids(aws, aws.admin)
    assert ghost not in nodes and theirs not in nodes
    agent(aws, theirs, account=OTHER)
    assert theirs in node_ids(aws, aws.other_admin) and online not in node_ids(aws, aws.other_admin)

    # Filters, old and new style, and pages.
    assert set(node_ids(aws, aws.admin, Filters=[{"Key": "InstanceIds", "Values": [online, hybrid, ghost]}])) == {online, hybrid}
    assert set(node_ids(aws, aws.admin, InstanceInformationFilterList=[{"key": "InstanceIds", "valueSet": [bare]}])) == {bare}
    assert set(node_ids(aws, aws.admin, Filters=[{"Key": "ResourceType", "Values": ["ManagedInstance"]}, {"Key": "InstanceIds", "Values": [hybrid, online]}])) == {hybrid}
    with pytest.raises(ClientError) as e:
        admin_ssm.describe_instance_information(Filters=[{"Key": "tag:Name", "Values": ["x"]}])
    assert code(e) == "InvalidFilterKey"
    for _ in range(5):
        agent(aws, hybrid_id())
    seen, token = [], None
    while True:
        page = admin_ssm.describe_instance_information(MaxResults=5, **({"NextToken": token} if token else {}))
        assert len(page["InstanceInformationList"]) <= 5
        seen += [n["InstanceId"] for n in page["InstanceInformationList"]]
        token = page.get("NextToken")
        if not token:
            break
    assert len(seen) == len(set(seen)) == len(node_ids(aws, aws.admin)) > 5
    with pytest.raises(ClientError) as e:
        admin_ssm.describe_instance_information(NextToken="garbage!")
    assert code(e) == "InvalidNextToken"


def test_managed_node_tags(aws):
    # Hybrid nodes carry SSM tags; an EC2 instance's tags are EC2's, and SSM refuses its id.
    ssm = client(aws, "ssm", aws.admin)
    node = hybrid_id()
    agent(aws, node)
    ssm.add_tags_to_resource(ResourceType="ManagedInstance", ResourceId=node, Tags=[{"Key": "Environment", "Value": "staging"}])
    assert ssm.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId=node)["TagList"] == [{"Key": "Environment", "Value": "staging"}]
    ssm.remove_tags_from_resource(ResourceType="ManagedInstance", ResourceId=node, TagKeys=["Environment"])
    assert ssm.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId=node)["TagList"] == []
    with pytest.raises(ClientError) as e:
        ssm.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId=hybrid_id())  # never registered
    assert code(e) == "InvalidResourceId"
    with pytest.raises(ClientError) as e:
        ssm.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId=managed(aws))
    assert code(e) == "ValidationException"
    assert "mi-[0-9a-f]{17}" in e.value.response["Error"]["Message"]


def test_run_as(aws):
    region = "us-west-1"
    logs = bucket(aws)
    preferences(aws, region, s3BucketName=logs, runAsEnabled=True, runAsDefaultUser="ec2-user")
    node = managed(aws, region)

    def started_as(keys: Keys) -> str:
        ssm = client(aws, "ssm", keys, region)
        session_id = ssm.start_session(Target=node)["SessionId"]
        ssm.terminate_session(SessionId=session_id)
        first_line = transcript(aws, logs, f"{session_id}.log")[0].splitlines()[0]
        assert f"[session {session_id} on {node} as " in first_line
        return first_line.rsplit(" as ", 1)[1].rstrip("]")

    start_any = policy({"Effect": "Allow", "Action": ["ssm:StartSession", "ssm:TerminateSession"], "Resource": "*"})
    # The session tag SSMSessionRunAs wins over runAsDefaultUser.
    user_arn, user_keys = user_with_key(aws, unique("federated"), ALLOW_ALL)
    role_arn = role(aws, unique("RunAs"), trust({"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": ["sts:AssumeRole", "sts:TagSession"]}), start_any)
    assert started_as(assume(aws, user_keys, role_arn, "dev-session", Tags=[{"Key": "SSMSessionRunAs", "Value": "dev"}])) == "dev"
    # A role tag, like a user tag, names the OS user too.
    tagged_role = role(aws, unique("Tagged"), trust({"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}), start_any)
    client(aws, "iam", aws.admin).tag_role(RoleName=tagged_role.split("/")[-1], Tags=[{"Key": "SSMSessionRunAs", "Value": "deploy"}])
    assert started_as(assume(aws, user_keys, tagged_role, "plain")) == "deploy"
    tagged_name = unique("ops")
    _, tagged_keys = user_with_key(aws, tagged_name, start_any)
    client(aws, "iam", aws.admin).tag_user(UserName=tagged_name, Tags=[{"Key": "SSMSessionRunAs", "Value": "ops"}])
    assert started_as(tagged_keys) == "ops"
    # No tag: the default user of the preferences.
    assert started_as(user_with_key(aws, unique("plain"), start_any)[1]) == "ec2-user"

    # Run As not turned on: ssm-user, whatever the tags.
    plain_region = "us-west-2"
    plain_logs = bucket(aws)
    preferences(aws, plain_region, s3BucketName=plain_logs)
    plain_node = managed(aws, plain_region)
    ssm = client(aws, "ssm", tagged_keys, plain_region)
    session_id = ssm.start_session(Target=plain_node)["SessionId"]
    ssm.terminate_session(SessionId=session_id)
    assert transcript(aws, plain_logs, f"{session_id}.log")[0].splitlines()[0].endswith(" as ssm-user]")

    # Run As on, no default user and no tag: the session fails ("please set the RunAs default user").
    failing_region = "ca-central-1"
    preferences(aws, failing_region, runAsEnabled=True)
    failing_node = managed(aws, failing_region)
    untagged = user_with_key(aws, unique("untagged"), start_any)[1]
    session_id = client(aws, "ssm", untagged, failing_region).start_session(Target=failing_node)["SessionId"]
    assert sessions(aws, aws.admin, "Active", failing_region, SessionId=session_id) == []
    failed = sessions(aws, aws.admin, "History", failing_region, SessionId=session_id)[0]
    assert failed["Status"] == "Failed" and failed["EndDate"] == failed["StartDate"]
    assert type_in(aws, session_id, "id\n", failing_region) == 404


def test_terminate_writes_the_transcript_to_s3(aws):
    region = "eu-west-1"
    logs = bucket(aws)
    preferences(aws, region, s3BucketName=logs, s3KeyPrefix="session-data/", s3EncryptionEnabled=True, maxSessionDuration="60")
    node = managed(aws, region)
    name = unique("mary")
    owner = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    _, keys = user_with_key(aws, name, policy({"Effect": "Allow", "Action": ["ssm:StartSession", "ssm:DescribeSessions", "ssm:TerminateSession", "ssm:ResumeSession"], "Resource": "*"}))
    ssm = client(aws, "ssm", keys, region)
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    first = ssm.start_session(Target=node, Reason="deploy")
    session_id = first["SessionId"]
    assert type_in(aws, session_id, "$ whoami\nssm-user\n", region) == 200
    assert type_in(aws, session_id, "$ exit\n", region) == 200
    assert type_in(aws, session_id, "ls\n") == 404  # another Region: no such session
    resumed = ssm.resume_session(SessionId=session_id)
    assert resumed["TokenValue"] != first["TokenValue"] and resumed["StreamUrl"] == first["StreamUrl"]

    active = sessions(aws, keys, "Active", region, Owner=owner)
    assert [(s["SessionId"], s["Status"], s["MaxSessionDuration"]) for s in active] == [(session_id, "Connected", "60")]
    assert "EndDate" not in active[0] and "OutputUrl" not in active[0]
    assert sessions(aws, keys, "History", region, Owner=owner) == []

    assert ssm.terminate_session(SessionId=session_id)["SessionId"] == session_id
    key = f"session-data/{session_id}.log"
    text, obj = transcript(aws, logs, key)
    assert text.startswith("Script started on ") and text.splitlines()[0].endswith(f"[session {session_id} on {node} as ssm-user]")
    assert text.split("\n", 1)[1] == "$ whoami\nssm-user\n$ exit\n"
    assert obj["ServerSideEncryption"] == "AES256"  # the bucket has no default encryption: SSE-S3
    history = sessions(aws, keys, "History", region, Owner=owner)
    assert [(s["SessionId"], s["Status"], s["Reason"]) for s in history] == [(session_id, "Terminated", "deploy")]
    assert history[0]["EndDate"] >= history[0]["StartDate"] >= before
    assert history[0]["OutputUrl"] == {"S3OutputUrl": f"https://{region}.console.aws.amazon.com/s3/object/{logs}/{key}"}
    assert sessions(aws, keys, "Active", region, Owner=owner) == []
    # Filters of the API reference.
    assert sessions(aws, keys, "History", region, Target=node, Status="Terminated", SessionId=session_id) == history
    assert sessions(aws, keys, "History", region, InvokedAfter=before.strftime("%Y-%m-%dT%H:%M:%SZ"), Owner=owner) == history
    assert sessions(aws, keys, "History", region, InvokedBefore=before.strftime("%Y-%m-%dT%H:%M:%SZ"), Owner=owner) == []
    assert sessions(aws, keys, "History", region, Owner=f"arn:aws:iam::{ACCOUNT}:user/someone-else") == []
    with pytest.raises(ClientError) as e:
        client(aws, "ssm", keys, region).describe_sessions(State="History", Filters=[{"key": "InvokedAfter", "value": "yesterday"}])
    assert code(e) == "ValidationException"

    # Ended: idempotent terminate, no more input, no resume; an unknown id terminates too.
    assert ssm.terminate_session(SessionId=session_id)["SessionId"] == session_id
    assert transcript(aws, logs, key)[0] == text
    assert type_in(aws, session_id, "late\n", region) == 404
    with pytest.raises(ClientError) as e:
        ssm.resume_session(SessionId=session_id)
    assert code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        ssm.resume_session(SessionId=f"{name}-0123456789abcdef0")
    assert code(e) == "DoesNotExistException"
    assert ssm.terminate_session(SessionId=f"{name}-0123456789abcdef0")["SessionId"] == f"{name}-0123456789abcdef0"

    # Pages of sessions, newest first.
    more = [ssm.start_session(Target=node)["SessionId"] for _ in range(3)]
    got, token = [], None
    while True:
        page = ssm.describe_sessions(State="Active", MaxResults=1, Filters=[{"key": "Owner", "value": owner}], **({"NextToken": token} if token else {}))
        got += [s["SessionId"] for s in page["Sessions"]]
        token = page.get("NextToken")
        if not token:
            break
    assert got == list(reversed(more))


def test_transcript_encryption_and_key_layout(aws):
    kms_key = client(aws, "kms", aws.admin).create_key()["KeyMetadata"]["Arn"]
    # The bucket's default encryption (SSE-KMS with its key) applies, as the agent uploads it.
    region = "ap-southeast-1"
    encrypted = bucket(aws, {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key})
    preferences(aws, region, s3BucketName=encrypted, s3EncryptionEnabled=True, kmsKeyId="alias/session-data")
    node = managed(aws, region)
    ssm = client(aws, "ssm", aws.admin, region)
    session_id = ssm.start_session(Target=node)["SessionId"]
    ssm.terminate_session(SessionId=session_id)
    _, obj = transcript(aws, encrypted, f"{session_id}.log")  # no prefix: <id>.log at the top
    assert (obj["ServerSideEncryption"], obj["SSEKMSKeyId"]) == ("aws:kms", kms_key)
    assert sessions(aws, aws.admin, "History", region, SessionId=session_id)[0]["OutputUrl"]["S3OutputUrl"].endswith(f"/{encrypted}/{session_id}.log")

    # A missing bucket: the session ends all the same, without output.
    region = "ap-northeast-1"
    preferences(aws, region, s3BucketName=unique("no-such-bucket"), s3KeyPrefix="a//b/", s3EncryptionEnabled=False)
    node = managed(aws, region)
    ssm = client(aws, "ssm", aws.admin, region)
    session_id = ssm.start_session(Target=node)["SessionId"]
    ssm.terminate_session(SessionId=session_id)
    ended = sessions(aws, aws.admin, "History", region, SessionId=session_id)[0]
    assert ended["Status"] == "Terminated" and "OutputUrl" not in ended
    # With s3EncryptionEnabled the agent checks the bucket's encryption first: it fails the session.
    region = "ap-south-1"
    preferences(aws, region, s3BucketName=unique("no-such-bucket"), s3EncryptionEnabled=True)
    node = managed(aws, region)
    session_id = client(aws, "ssm", aws.admin, region).start_session(Target=node)["SessionId"]
    assert sessions(aws, aws.admin, "History", region, SessionId=session_id)[0]["Status"] == "Failed"


def test_transcript_key_is_go_path_join():
    from cib_local_aws.ssm_sessions import transcript_key

    assert transcript_key("session-data/", "Mary-Major-0ab177d470EXAMPLE") == "session-data/Mary-Major-0ab177d470EXAMPLE.log"
    assert transcript_key("session-data", "s-1") == "session-data/s-1.log"
    assert transcript_key("", "s-1") == "s-1.log"
    assert transcript_key(None, "s-1") == "s-1.log"
    assert transcript_key("a//b/", "s-1") == "a/b/s-1.log"
