"""Signed requests with reserved characters in the query string, against the real server.

Case from AWS's Signature Version 4 reference ("Create a canonical request": each query name
and value URI-encoded, unreserved characters kept, `/` as %2F) and S3's ListObjectsV2 `prefix`,
whose values routinely hold `/`.
"""

from __future__ import annotations

from cib_local_aws.signature_query import canonical_query
from conftest import Aws, unique


def test_a_prefix_with_slashes_lists_what_it_names(aws: Aws) -> None:
    s3 = aws.client("s3", aws.admin)
    bucket = unique("prefixes")
    s3.create_bucket(Bucket=bucket)
    for key in ("sessions/A/2026-11-24/x.jsonl", "sessions/B/2026-11-24/y.jsonl", "digests/A/1.json"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="sessions/A/")
    assert [o["Key"] for o in listed["Contents"]] == ["sessions/A/2026-11-24/x.jsonl"]
    odd = s3.list_objects_v2(Bucket=bucket, Prefix="sessions/A b+c~/")
    assert odd["KeyCount"] == 0


def test_the_canonical_query_encodes_all_but_the_unreserved_characters() -> None:
    assert canonical_query("list-type=2&prefix=sessions/A/") == "list-type=2&prefix=sessions%2FA%2F"
    assert canonical_query("prefix=sessions%2FA%2F") == "prefix=sessions%2FA%2F"
    assert canonical_query("prefix=a+b%20c~d") == "prefix=a%2Bb%20c~d"
    assert canonical_query("versions=") == "versions="
