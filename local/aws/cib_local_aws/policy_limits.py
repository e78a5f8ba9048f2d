"""IAM's policy size quotas, which moto does not enforce.

AWS (reference_iam-quotas.html): a managed policy is at most 6,144 characters; the inline
policies of one entity together at most 2,048 (user), 5,120 (group) or 10,240 (role)
characters; "IAM does not count white space when calculating the size of a policy". Past
them AWS answers LimitExceeded. The broker lays its revocation denies out in pages sized
against these limits, so a local AWS that accepts any size would hide an overflow.

The trust policy quota (2,048 by default, adjustable to 4,096; CreateRole,
UpdateAssumeRolePolicy) is enforced by iam_quotas, with CIB_LOCAL_TRUST_POLICY_QUOTA.
"""

from __future__ import annotations

import re

MANAGED_POLICY_MAX = 6144
INLINE_MAX = {"user": 2048, "group": 5120, "role": 10240}

_WHITESPACE = re.compile(r"\s+")


def size(document: str) -> int:
    """A policy's size as IAM counts it: characters other than white space."""
    return len(_WHITESPACE.sub("", document or ""))


def inline_total(existing: dict[str, str], name: str, document: str) -> int:
    """The entity's inline policies together once `name` is (re)written with `document`."""
    return sum(size(d) for n, d in existing.items() if n != name) + size(document)


def apply() -> None:
    from moto.iam.exceptions import LimitExceededException
    from moto.iam.models import IAMBackend

    def inline(method_name: str, kind: str, lookup: str):
        original = getattr(IAMBackend, method_name)

        def put(self, entity_name, policy_name, policy_json):
            entity = getattr(self, lookup)(entity_name)  # NoSuchEntity first, as on AWS
            limit = INLINE_MAX[kind]
            if inline_total(entity.policies, policy_name, policy_json) > limit:
                raise LimitExceededException(f"Maximum policy size of {limit} bytes exceeded for {kind} {entity_name}")
            return original(self, entity_name, policy_name, policy_json)

        setattr(IAMBackend, method_name, put)

    inline("put_role_policy", "role", "get_role")
    inline("put_user_policy", "user", "get_user")
    inline("put_group_policy", "group", "get_group")

    def managed_limit(document: str) -> None:
        if size(document) > MANAGED_POLICY_MAX:
            raise LimitExceededException(f"Cannot exceed quota for PolicySize: {MANAGED_POLICY_MAX}")

    create_policy = IAMBackend.create_policy

    def create(self, description, path, policy_document, policy_name, tags):
        managed_limit(policy_document)
        return create_policy(self, description, path, policy_document, policy_name, tags)

    IAMBackend.create_policy = create

    create_version = IAMBackend.create_policy_version

    def create_policy_version(self, policy_arn, policy_document, set_as_default):
        self.get_policy(policy_arn)  # NoSuchEntity first
        managed_limit(policy_document)
        return create_version(self, policy_arn, policy_document, set_as_default)

    IAMBackend.create_policy_version = create_policy_version
