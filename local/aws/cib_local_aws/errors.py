"""AWS-shaped authorization errors, in the error format of the request's protocol.

moto answers every refused request with an XML error body, even to JSON-protocol services
(DynamoDB, KMS), whose SDKs then cannot read the error code. AWS answers those with a JSON
body and the `...Exception` code (AccessDeniedException, ExpiredTokenException). Query
services (IAM, STS) get the query protocol's `<ErrorResponse><Error>` body: moto's own
`<ErrorResponse><Errors><Error>` (EC2's shape) is read by botocore but not by the AWS SDK for
Rust, which then sees no error code. S3 keeps moto's S3 errors (see `enforcement`).
"""

from __future__ import annotations


def is_json_protocol(headers) -> bool:
    # awsJson requests name their operation in X-Amz-Target; query and REST ones do not.
    return bool(headers.get("X-Amz-Target")) or "amz-json" in (headers.get("Content-Type") or "")


def _query_error(code: str, message: str, status: int) -> Exception:
    """An error in the query protocol's shape (IAM, STS), as AWS sends it."""
    from moto.core.exceptions import _RESTError
    from xmltodict import unparse

    class QueryError(_RESTError):
        pass

    error = QueryError(code, message)
    error.code = status
    error.description = unparse(
        {
            "ErrorResponse": {
                "Error": {"Type": "Sender", "Code": code, "Message": message},
                "RequestId": "cib-local-aws",
            }
        },
        full_document=True,
    )
    return error


def access_denied(headers, message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    if is_json_protocol(headers):
        return JsonRESTError("AccessDeniedException", message)
    return _query_error("AccessDenied", message, 403)


def expired_token(headers) -> Exception:
    from moto.core.exceptions import JsonRESTError

    message = "The security token included in the request is expired"
    if is_json_protocol(headers):
        return JsonRESTError("ExpiredTokenException", message)
    return _query_error("ExpiredToken", message, 400)
