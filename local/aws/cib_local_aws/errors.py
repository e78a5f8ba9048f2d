"""AWS-shaped authorization errors, in the error format of the request's protocol.

moto answers every refused request with an XML error body, even to JSON-protocol services
(DynamoDB, KMS), whose SDKs then cannot read the error code. AWS answers those with a JSON
body and the `...Exception` code (AccessDeniedException, ExpiredTokenException). Query
services (IAM, STS) keep moto's XML errors; S3 keeps moto's S3 errors (see `enforcement`).
"""

from __future__ import annotations


def is_json_protocol(headers) -> bool:
    # awsJson requests name their operation in X-Amz-Target; query and REST ones do not.
    return bool(headers.get("X-Amz-Target")) or "amz-json" in (headers.get("Content-Type") or "")


def access_denied(headers, message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError, _RESTError

    if is_json_protocol(headers):
        return JsonRESTError("AccessDeniedException", message)

    class AccessDenied(_RESTError):
        code = 403

    return AccessDenied("AccessDenied", message)


def expired_token(headers) -> Exception:
    from moto.core.exceptions import JsonRESTError, _RESTError

    message = "The security token included in the request is expired"
    if is_json_protocol(headers):
        return JsonRESTError("ExpiredTokenException", message)

    class ExpiredToken(_RESTError):
        code = 400

    return ExpiredToken("ExpiredToken", message)
