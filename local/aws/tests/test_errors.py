"""Refusals in the shape each protocol's SDKs read.

The AWS SDK for Rust reads a query-protocol error (IAM, STS) only as
`<ErrorResponse><Error><Code>`; moto's default `<ErrorResponse><Errors><Error>` (EC2's shape)
left it with no error code at all. JSON-protocol services (DynamoDB, KMS) want
`{"__type": ..., "message": ...}`.
"""

import json
import xml.etree.ElementTree as ET

from cib_local_aws import errors


def test_query_protocol_access_denied_is_error_response_error():
    e = errors.access_denied({"Content-Type": "application/x-www-form-urlencoded"}, "no")
    assert e.code == 403
    root = ET.fromstring(e.get_body())
    assert root.tag == "ErrorResponse"
    assert [c.tag for c in root] == ["Error", "RequestId"]
    assert root.find("Error/Code").text == "AccessDenied"
    assert root.find("Error/Message").text == "no"
    assert root.find("Error/Type").text == "Sender"


def test_query_protocol_expired_token():
    e = errors.expired_token({})
    assert e.code == 400
    assert ET.fromstring(e.get_body()).find("Error/Code").text == "ExpiredToken"


def test_json_protocol_errors_are_json():
    headers = {"X-Amz-Target": "DynamoDB_20120810.GetItem"}
    body = json.loads(errors.access_denied(headers, "no").get_body())
    assert body == {"__type": "AccessDeniedException", "message": "no"}
    assert json.loads(errors.expired_token(headers).get_body())["__type"] == "ExpiredTokenException"
