"""CloudTrail event history end to end: the real server (conftest's `aws`), boto3, real keys.

Cases from AWS's documentation:
- LookupEvents, CloudTrail API Reference
  (https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html):
  one lookup attribute at most, StartTime/EndTime inclusive, newest first, MaxResults 1-50,
  NextToken, "two per second, per account, per Region", the errors it lists;
- Event, same reference (API_Event.html): the fields of each returned event;
- "CloudTrail record contents" and "CloudTrail userIdentity element", CloudTrail User Guide
  (cloudtrail-event-reference-record-contents.html, cloudtrail-event-reference-user-identity.html):
  CloudTrailEvent's fields, IAMUser and AssumedRole identities;
- "Amazon S3 CloudTrail events", S3 User Guide (cloudtrail-logging-s3-info.html): "The CloudTrail
  Event history doesn't record data events" (object-level calls).
This module's server runs without the automatic rate limit (LOCAL_AWS_ENV) so that lookups are
deterministic; the limit is tested on a server of its own and, with a fake clock, directly.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cib_local_aws.cloudtrail_history import credential, s3_operation
from cib_local_aws.cloudtrail_lookup import RateLimiter
from conftest import ACCOUNT, ALLOW_ALL, OTHER, Aws, Keys, assume, code, local_aws, role, trust, unique, user_with_key

LOCAL_AWS_ENV = {"CIB_LOCAL_CLOUDTRAIL_RATE": "0"}


def cloudtrail(aws: Aws, keys: Keys, region: str = "us-east-1", **config):
    return boto3.client(
        "cloudtrail",
        region_name=region,
        endpoint_url=aws.endpoint,
        aws_access_key_id=keys.id,
        aws_secret_access_key=keys.secret,
        aws_session_token=keys.token,
        config=Config(retries={"total_max_attempts": 1}, **config),  # no retry: every throttle shows
    )


def events(aws: Aws, key: str, value: str, keys: Keys | None = None, **kwargs) -> list[dict]:
    """Every event with that lookup attribute, all pages, as LookupEvents returns them."""
    client = cloudtrail(aws, keys or aws.admin)
    found, token = [], None
    while True:
        page = client.lookup_events(LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}], **kwargs, **({"NextToken": token} if token else {}))
        found += page["Events"]
        token = page.get("NextToken")
        if not token:
            return found


def names(found: list[dict]) -> list[str]:
    return [e["EventName"] for e in found]


def record(event: dict) -> dict:
    return json.loads(event["CloudTrailEvent"])


def control(aws: Aws, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(f"{aws.endpoint}/moto-api/cib/cloudtrail/{path}", data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def next_second() -> int:
    """Sleep into the next whole second; return it (events before now have an earlier second)."""
    now = time.time()
    time.sleep(int(now) + 1.05 - now)
    return int(time.time())


def test_calls_are_found_by_access_key_and_user_name_newest_first(aws: Aws):
    name, other = unique("alice"), unique("bob")
    arn, alice = user_with_key(aws, name, ALLOW_ALL)
    _, bob = user_with_key(aws, other, ALLOW_ALL)
    aws.client("iam", alice).get_user()
    aws.client("iam", alice).list_roles()
    aws.client("sts", alice).get_caller_identity()
    aws.client("iam", bob).list_users()

    by_key = events(aws, "AccessKeyId", alice.id)
    assert names(by_key) == ["GetCallerIdentity", "ListRoles", "GetUser"]  # newest first
    assert [e["EventSource"] for e in by_key] == ["sts.amazonaws.com", "iam.amazonaws.com", "iam.amazonaws.com"]
    assert {(e["AccessKeyId"], e["Username"], e["ReadOnly"]) for e in by_key} == {(alice.id, name, "true")}
    times = [e["EventTime"] for e in by_key]
    assert times == sorted(times, reverse=True)
    assert [e["EventId"] for e in events(aws, "Username", name)] == [e["EventId"] for e in by_key]
    assert names(events(aws, "AccessKeyId", bob.id)) == ["ListUsers"]

    identity = record(by_key[0])["userIdentity"]
    user_id = aws.client("iam", aws.admin).get_user(UserName=name)["User"]["UserId"]
    assert identity == {"type": "IAMUser", "principalId": user_id, "arn": arn, "accountId": ACCOUNT, "accessKeyId": alice.id, "userName": name}


def test_the_other_lookup_attributes(aws: Aws):
    name = unique("carol")
    _, carol = user_with_key(aws, name, ALLOW_ALL)
    iam = aws.client("iam", carol)
    iam.get_user()
    iam.tag_user(UserName=name, Tags=[{"Key": "team", "Value": "a"}])
    mine = {e["EventId"]: e for e in events(aws, "AccessKeyId", carol.id)}
    writes = [e for e in events(aws, "ReadOnly", "false") if e["EventId"] in mine]
    assert names(writes) == ["TagUser"] and writes[0]["ReadOnly"] == "false"
    assert [e["EventId"] for e in events(aws, "EventName", "TagUser") if e["EventId"] in mine] == [writes[0]["EventId"]]
    assert {e["EventName"] for e in events(aws, "EventSource", "iam.amazonaws.com") if e["EventId"] in mine} == {"GetUser", "TagUser"}
    only = events(aws, "EventId", writes[0]["EventId"])
    assert [e["EventId"] for e in only] == [writes[0]["EventId"]]


def test_a_role_session_is_found_by_its_temporary_key(aws: Aws):
    user_name, role_name, session_name = unique("dave"), unique("Reader"), unique("dave-session")
    user_arn, dave = user_with_key(aws, user_name, ALLOW_ALL)
    role_arn = role(aws, role_name, trust({"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}), ALLOW_ALL)
    session = assume(aws, dave, role_arn, session_name)
    aws.client("sts", session).get_caller_identity()
    aws.client("iam", session).list_roles()

    found = events(aws, "AccessKeyId", session.id)
    assert names(found) == ["ListRoles", "GetCallerIdentity"]
    assert {(e["AccessKeyId"], e["Username"]) for e in found} == {(session.id, session_name)}
    identity = record(found[0])["userIdentity"]
    role_id = aws.client("iam", aws.admin).get_role(RoleName=role_name)["Role"]["RoleId"]
    assert identity["type"] == "AssumedRole"
    assert identity["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{session_name}"
    assert identity["principalId"] == f"{role_id}:{session_name}"
    assert identity["accountId"] == ACCOUNT and identity["accessKeyId"] == session.id
    issuer = identity["sessionContext"]["sessionIssuer"]
    assert issuer == {"type": "Role", "principalId": role_id, "arn": role_arn, "accountId": ACCOUNT, "userName": role_name}
    assert identity["sessionContext"]["attributes"]["mfaAuthenticated"] == "false"
    assert identity["sessionContext"]["attributes"]["creationDate"].endswith("Z")
    assert [e["EventId"] for e in events(aws, "Username", session_name)] == [e["EventId"] for e in found]

    # The AssumeRole call itself: the user's, with the role it was authorized against.
    (assumed,) = [e for e in events(aws, "AccessKeyId", dave.id) if e["EventName"] == "AssumeRole"]
    assert assumed["ReadOnly"] == "false" and assumed["Resources"] == [{"ResourceType": "AWS::IAM::Role", "ResourceName": role_name}]
    assert record(assumed)["resources"] == [{"accountId": ACCOUNT, "type": "AWS::IAM::Role", "ARN": role_arn}]


def test_the_record_has_cloudtrails_fields(aws: Aws):
    _, erin = user_with_key(aws, unique("erin"), ALLOW_ALL)
    aws.client("iam", erin).list_users()
    (event,) = events(aws, "AccessKeyId", erin.id)
    body = record(event)
    assert body["eventVersion"] == "1.11" and body["eventType"] == "AwsApiCall"
    assert body["eventID"] == event["EventId"] and body["eventName"] == "ListUsers"
    assert body["eventSource"] == "iam.amazonaws.com" and body["awsRegion"] == "us-east-1"
    assert body["eventTime"] == event["EventTime"].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["readOnly"] is True and body["recipientAccountId"] == ACCOUNT
    assert body["managementEvent"] is True and body["eventCategory"] == "Management"
    assert body["sourceIPAddress"] == "127.0.0.1" and body["userAgent"].startswith("Boto3/")
    assert "errorCode" not in body and body["requestID"]


def test_time_window_is_inclusive(aws: Aws):
    _, frank = user_with_key(aws, unique("frank"), ALLOW_ALL)
    aws.client("iam", frank).get_user()
    boundary = next_second()
    aws.client("iam", frank).list_roles()
    assert names(events(aws, "AccessKeyId", frank.id, StartTime=boundary)) == ["ListRoles"]
    assert names(events(aws, "AccessKeyId", frank.id, EndTime=boundary - 1)) == ["GetUser"]
    (later,) = events(aws, "AccessKeyId", frank.id, StartTime=boundary)
    second = later["EventTime"]
    assert names(events(aws, "AccessKeyId", frank.id, StartTime=second, EndTime=second)) == ["ListRoles"]
    with pytest.raises(ClientError) as e:
        cloudtrail(aws, aws.admin).lookup_events(StartTime=boundary, EndTime=boundary - 1)
    assert code(e) == "InvalidTimeRangeException"


def test_paging_covers_every_event_once(aws: Aws):
    _, gina = user_with_key(aws, unique("gina"), ALLOW_ALL)
    iam = aws.client("iam", gina)
    for _ in range(7):
        iam.list_roles()
    everything = events(aws, "AccessKeyId", gina.id)
    assert len(everything) == 7
    client = cloudtrail(aws, aws.admin)
    attribute = [{"AttributeKey": "AccessKeyId", "AttributeValue": gina.id}]
    pages = [client.lookup_events(LookupAttributes=attribute, MaxResults=3)]
    iam.get_user()  # recorded meanwhile: newer than the first page, never in the next ones
    while pages[-1].get("NextToken"):
        pages.append(client.lookup_events(LookupAttributes=attribute, MaxResults=3, NextToken=pages[-1]["NextToken"]))
    assert [len(p["Events"]) for p in pages] == [3, 3, 1]
    assert [e["EventId"] for p in pages for e in p["Events"]] == [e["EventId"] for e in everything]


def test_next_token_must_be_one_returned_for_the_same_query(aws: Aws):
    _, hank = user_with_key(aws, unique("hank"), ALLOW_ALL)
    for _ in range(2):
        aws.client("iam", hank).get_user()
    client = cloudtrail(aws, aws.admin)
    token = client.lookup_events(LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": hank.id}], MaxResults=1)["NextToken"]
    for attribute in ([{"AttributeKey": "EventName", "AttributeValue": "GetUser"}], [{"AttributeKey": "AccessKeyId", "AttributeValue": "AKIANOTAKEY000000000"}]):
        with pytest.raises(ClientError) as e:
            client.lookup_events(LookupAttributes=attribute, NextToken=token)
        assert code(e) == "InvalidNextTokenException"
    with pytest.raises(ClientError) as e:
        client.lookup_events(NextToken="bm90IGEgdG9rZW4=")
    assert code(e) == "InvalidNextTokenException"
    with pytest.raises(ClientError) as e:  # another account cannot use it either
        cloudtrail(aws, aws.other_admin).lookup_events(LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": hank.id}], NextToken=token)
    assert code(e) == "InvalidNextTokenException"


def test_lookup_attributes_and_max_results_are_validated(aws: Aws):
    client = cloudtrail(aws, aws.admin)
    two = [{"AttributeKey": "Username", "AttributeValue": "admin"}, {"AttributeKey": "EventName", "AttributeValue": "GetUser"}]
    for attributes in (two, [{"AttributeKey": "UserAgent", "AttributeValue": "x"}]):
        with pytest.raises(ClientError) as e:
            client.lookup_events(LookupAttributes=attributes)
        assert code(e) == "InvalidLookupAttributesException"
    with pytest.raises(ClientError) as e:
        client.lookup_events(MaxResults=51)
    assert code(e) == "InvalidMaxResultsException"
    unchecked = cloudtrail(aws, aws.admin, parameter_validation=False)  # boto3 refuses 0 itself
    with pytest.raises(ClientError) as e:
        unchecked.lookup_events(MaxResults=0)
    assert code(e) == "InvalidMaxResultsException"
    assert len(client.lookup_events(MaxResults=1)["Events"]) == 1
    assert client.lookup_events(EventCategory="insight")["Events"] == []


def test_only_the_callers_account_and_region(aws: Aws):
    _, ivan = user_with_key(aws, unique("ivan"), ALLOW_ALL)
    aws.client("iam", ivan).get_user()
    boto3.client("dynamodb", region_name="us-west-2", endpoint_url=aws.endpoint, aws_access_key_id=ivan.id, aws_secret_access_key=ivan.secret).list_tables()
    assert names(events(aws, "AccessKeyId", ivan.id)) == ["GetUser"]
    in_west = cloudtrail(aws, aws.admin, region="us-west-2").lookup_events(LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": ivan.id}])["Events"]
    assert names(in_west) == ["ListTables"] and record(in_west[0])["awsRegion"] == "us-west-2"
    other = cloudtrail(aws, aws.other_admin).lookup_events(LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": ivan.id}])
    assert other["Events"] == []


def test_failed_calls_carry_their_error_code_and_unauthenticated_ones_are_not_recorded(aws: Aws):
    _, jane = user_with_key(aws, unique("jane"))  # no policy: everything but GetCallerIdentity is denied
    for call in (lambda: aws.client("iam", jane).list_users(), lambda: aws.client("dynamodb", jane).list_tables(), lambda: aws.client("s3", jane).list_buckets()):
        with pytest.raises(ClientError):
            call()
    aws.client("sts", jane).get_caller_identity()
    with pytest.raises(ClientError) as e:  # a wrong secret: nobody authenticated, nothing recorded
        aws.client("iam", Keys(jane.id, "not-the-secret")).get_user()
    assert code(e) == "SignatureDoesNotMatch"
    found = events(aws, "AccessKeyId", jane.id)
    assert [(e["EventName"], record(e).get("errorCode")) for e in found] == [
        ("GetCallerIdentity", None),
        ("ListBuckets", "AccessDenied"),
        ("ListTables", "AccessDeniedException"),
        ("ListUsers", "AccessDenied"),
    ]


def test_a_stand_ins_check_marked_unrecorded_is_not_an_event(aws: Aws):
    _, joe = user_with_key(aws, unique("joe"))
    sts = aws.client("sts", joe)

    def mark(request, **_):
        request.headers["X-Cib-Local-Unrecorded"] = "1"

    sts.meta.events.register("before-sign.sts.GetCallerIdentity", mark)
    sts.get_caller_identity()
    aws.client("sts", joe).get_caller_identity()
    assert names(events(aws, "AccessKeyId", joe.id)) == ["GetCallerIdentity"]


def test_s3_object_calls_are_data_events_and_not_in_event_history(aws: Aws):
    _, kate = user_with_key(aws, unique("kate"), ALLOW_ALL)
    s3 = aws.client("s3", kate)
    bucket = unique("trail-test")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a/b.txt", Body=b"x")
    s3.get_object(Bucket=bucket, Key="a/b.txt")
    s3.list_objects_v2(Bucket=bucket)
    s3.list_buckets()
    found = events(aws, "AccessKeyId", kate.id)
    assert names(found) == ["ListBuckets", "CreateBucket"]
    assert found[1]["Resources"] == [{"ResourceType": "AWS::S3::Bucket", "ResourceName": bucket}]


@pytest.mark.parametrize(
    "method,path,query,expected",
    [
        ("GET", "/", {}, ("ListBuckets", False)),
        ("PUT", "/bkt", {}, ("CreateBucket", False)),
        ("HEAD", "/bkt", {}, ("HeadBucket", False)),
        ("DELETE", "/bkt", {}, ("DeleteBucket", False)),
        ("PUT", "/bkt", {"policy": [""]}, ("PutBucketPolicy", False)),
        ("GET", "/bkt", {"encryption": [""]}, ("GetBucketEncryption", False)),
        ("DELETE", "/bkt", {"publicAccessBlock": [""]}, ("DeleteBucketPublicAccessBlock", False)),
        ("GET", "/bkt", {"location": [""]}, ("GetBucketLocation", False)),
        ("GET", "/bkt", {"list-type": ["2"]}, ("ListObjectsV2", True)),
        ("GET", "/bkt", {}, ("ListObjects", True)),
        ("POST", "/bkt", {"delete": [""]}, ("DeleteObjects", True)),
        ("GET", "/bkt/a/b", {}, ("GetObject", True)),
        ("PUT", "/bkt/a/b", {}, ("PutObject", True)),
        ("HEAD", "/bkt/a/b", {}, ("HeadObject", True)),
        ("DELETE", "/bkt/a/b", {}, ("DeleteObject", True)),
        ("GET", "/bkt/k", {"tagging": [""]}, ("GetObjectTagging", True)),
        ("POST", "/bkt/k", {"uploads": [""]}, ("CreateMultipartUpload", True)),
        ("PUT", "/bkt/k", {"partNumber": ["1"], "uploadId": ["u"]}, ("UploadPart", True)),
    ],
)
def test_s3_event_names(method, path, query, expected):
    assert s3_operation(method, path, query) == expected


def test_s3_event_names_virtual_hosted_and_copy():
    assert s3_operation("GET", "/a/b", {}, host="bkt.s3.us-east-1.amazonaws.com") == ("GetObject", True)
    assert s3_operation("PUT", "/bkt/k", {}, copy_source=True) == ("CopyObject", True)


def test_credential_scope_from_header_or_presigned_url():
    header = "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20240101/eu-west-1/ssm/aws4_request, SignedHeaders=host, Signature=abc"
    assert credential({"HTTP_AUTHORIZATION": header}) == ("AKIAEXAMPLE", "eu-west-1", "ssm")
    presigned = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAEXAMPLE%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=abc"
    assert credential({"QUERY_STRING": presigned}) == ("ASIAEXAMPLE", "us-east-1", "s3")
    assert credential({}) is None
    assert credential({"HTTP_AUTHORIZATION": "AWS AKIAEXAMPLE:signature"}) is None  # SigV2


def test_no_secret_material_is_recorded(aws: Aws):
    user_name = unique("liam")
    user_arn, liam = user_with_key(aws, user_name, ALLOW_ALL)
    role_arn = role(aws, unique("Writer"), trust({"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}), ALLOW_ALL)
    session = assume(aws, liam, role_arn, unique("s"))
    created = aws.client("iam", session).create_access_key(UserName=user_name)["AccessKey"]
    aws.client("sts", session).get_caller_identity()
    secrets = [aws.admin.secret, aws.other_admin.secret, liam.secret, session.secret, session.token, created["SecretAccessKey"]]
    everything, token = [], None
    client = cloudtrail(aws, aws.admin)
    while True:
        page = client.lookup_events(**({"NextToken": token} if token else {}))
        everything += page["Events"]
        token = page.get("NextToken")
        if not token:
            break
    assert {"CreateAccessKey", "AssumeRole"} <= set(names(everything))
    text = json.dumps(everything, default=str)
    assert not [s for s in secrets if s in text]


def test_the_throttle_endpoint_throttles_exactly_n_calls(aws: Aws):
    assert control(aws, "throttle", {"account_id": ACCOUNT, "calls": 3}) == (200, {"account_id": ACCOUNT, "calls": 3})
    client = cloudtrail(aws, aws.admin)
    cloudtrail(aws, aws.other_admin).lookup_events(MaxResults=1)  # another account: not throttled
    for _ in range(3):
        with pytest.raises(ClientError) as e:
            client.lookup_events(MaxResults=1)
        assert code(e) == "ThrottlingException"
        assert e.value.response["Error"]["Message"] == "Rate exceeded"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    client.lookup_events(MaxResults=1)
    found = events(aws, "EventName", "LookupEvents", MaxResults=50)
    errors = [record(e).get("errorCode") for e in found if e["AccessKeyId"] == aws.admin.id][:4]
    assert errors == [None, "ThrottlingException", "ThrottlingException", "ThrottlingException"]

    assert control(aws, "throttle", {"account_id": ACCOUNT, "calls": 5})[0] == 200
    assert control(aws, "throttle", {"account_id": ACCOUNT, "calls": 0})[0] == 200  # cancels
    client.lookup_events(MaxResults=1)
    for bad in ({"account_id": "123", "calls": 1}, {"account_id": ACCOUNT, "calls": -1}, {"account_id": ACCOUNT, "calls": "2"}, {}):
        status, body = control(aws, "throttle", bad)
        assert status == 400 and body["message"]


def test_reset_forgets_every_event(aws: Aws):
    _, mia = user_with_key(aws, unique("mia"), ALLOW_ALL)
    aws.client("iam", mia).get_user()
    status, body = control(aws, "reset", {})
    assert status == 200 and body["events_removed"] >= 1
    assert events(aws, "AccessKeyId", mia.id) == []


def test_rate_limiter_two_per_second_with_a_fake_clock():
    now = [100.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]
    assert limiter.allow("b")  # per key (account and Region)
    now[0] += 0.25
    assert not limiter.allow("a")  # half a token
    now[0] += 0.25
    assert limiter.allow("a") and not limiter.allow("a")
    now[0] += 10
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]  # bursts stay at two
    off = RateLimiter(0, clock=lambda: now[0])
    assert all(off.allow("a") for _ in range(100))
    slow = RateLimiter(0.5, clock=lambda: now[0])
    assert slow.allow("a") and not slow.allow("a")
    now[0] += 2
    assert slow.allow("a")


def test_the_automatic_rate_limit_throttles_a_burst():
    with local_aws(CIB_LOCAL_CLOUDTRAIL_RATE="2") as server:
        client = cloudtrail(server, server.admin)
        outcomes = []
        for _ in range(10):  # unthrottled, 10 calls would need 4 seconds at least
            try:
                client.lookup_events(MaxResults=1)
                outcomes.append("ok")
            except ClientError as e:
                outcomes.append(e.response["Error"]["Code"])
        assert outcomes[:2] == ["ok", "ok"] and "ThrottlingException" in outcomes
        assert set(outcomes) == {"ok", "ThrottlingException"}
        cloudtrail(server, server.other_admin).lookup_events(MaxResults=1)  # per account
        time.sleep(1.1)
        client.lookup_events(MaxResults=1)


def test_other_account_sees_its_own_events(aws: Aws):
    _, nora = user_with_key(aws, unique("nora"), ALLOW_ALL, admin=aws.other_admin)
    aws.client("iam", nora).get_user()
    (event,) = events(aws, "AccessKeyId", nora.id, keys=aws.other_admin)
    assert record(event)["recipientAccountId"] == OTHER == record(event)["userIdentity"]["accountId"]
    assert events(aws, "AccessKeyId", nora.id) == []
