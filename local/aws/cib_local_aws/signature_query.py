"""Fidelity: a signed request whose query string holds reserved characters (`/` in an S3
`prefix`, say) is accepted.

moto recomputes a request's Signature Version 4 from the URL as it saw it, whose query string
arrives with `%2F` already decoded to `/`; botocore then canonicalizes the query as given, so its
signature differs from the client's, which encoded `/` as AWS requires, and a correct request
is refused with SignatureDoesNotMatch ("ListObjectsV2 with Prefix=sessions/A/"). AWS's canonical
query string URI-encodes each name and value, leaving only the unreserved characters
`A-Z a-z 0-9 - _ . ~` as they are, `/` included as `%2F` (Signature Version 4, "Create a
canonical request"). This patch puts the query back in that form before moto signs it.
"""

from __future__ import annotations

from urllib.parse import quote, unquote


def canonical_query(query: str) -> str:
    """Each name and value decoded once (a `+` stays a `+`), then encoded as SigV4 requires."""
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append(f"{quote(unquote(name), safe='-_.~')}={quote(unquote(value), safe='-_.~')}")
    return "&".join(pairs)


def apply() -> None:
    from moto.iam import access_control as ac

    original = ac.IAMRequestBase._create_aws_request

    def _create_aws_request(self):
        path, sep, query = self._path.partition("?")
        if sep:
            self._path = f"{path}?{canonical_query(query)}"
        return original(self)

    ac.IAMRequestBase._create_aws_request = _create_aws_request
