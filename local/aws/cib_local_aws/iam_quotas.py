"""IAM rules that moto 5.2.1 lacks or applies unevenly: unique Sids, condition operators, the
role trust policy quota, managed policies attached per entity, and what ListUsers / ListRoles
leave out.

From AWS's documentation (the error messages are AWS's own, as its API answers them):

- "IAM JSON policy elements: Sid" (reference_policies_elements_sid.html): "In IAM, the Sid
  value must be unique within a JSON policy." A duplicate is MalformedPolicyDocument (HTTP 400)
  "Statement IDs (SID) in a single policy must be unique." (AWS's answer as reported in
  kubernetes/kops#4951 and aws-cloudformation/cfn-lint#3973; moto uses the same words where it
  checks). Every call that writes a policy checks it, before any other check of the document:
  CreatePolicy, CreatePolicyVersion, PutUserPolicy, PutRolePolicy, PutGroupPolicy, CreateRole
  (AssumeRolePolicyDocument, which moto does not validate at all) and UpdateAssumeRolePolicy.
  Statements without a Sid never conflict. Chosen here (AWS does not say): Sids compare
  exactly (case-sensitive), an empty Sid conflicts with nothing (as in moto), and a document
  that is not a JSON object with statements is left to moto's own validation.
- Condition operators (reference_policies_elements_condition_operators.html, the policy
  grammar's `condition_type_string`: "For a complete list of condition types, see ... Condition
  operators"): a Condition that is not an object, an operator AWS does not define (misspelt,
  "StringEqualsFoo", `NullIfExists`: "You can add IfExists to the end of any condition operator
  name except the Null condition operator") or an operator whose block is not an object is
  MalformedPolicyDocument (HTTP 400) "Syntax errors in policy." (AWS's answer to a Condition
  naming no operator, aws-cloudformation/cfn-lint#3751; moto's own words where it checks).
  moto refuses most of these in identity policies already, but not an unknown operator with an
  empty block, nor `NullIfExists`, nor anything in CreateRole's trust policy; checked here in
  every call above, after the Sids. Chosen here (AWS does not say): operator names and the
  ForAnyValue: / ForAllValues: qualifiers are spelt exactly, as on AWS's pages (moto too).
  AssumeRole's session policy is checked by `sts_sessions`.
- "IAM and AWS STS quotas" (reference_iam-quotas.html), "Role trust policy length": 2,048
  characters by default, adjustable up to 4,096 (the page's "Maximum quota"; some later
  sources quote 8,192, not accepted here), and "IAM does not count white space when
  calculating the size of a policy". Past it, CreateRole and UpdateAssumeRolePolicy answer LimitExceeded (HTTP 409)
  "Cannot exceed quota for ACLSizePerRole: 2048" (AWS's answer as reported in
  kubeflow/kubeflow#6687 and apache/airflow#27331). The quota is an account's setting on AWS;
  here it is CIB_LOCAL_TRUST_POLICY_QUOTA, read when the server starts: a whole number from
  2048 to 4096, default (unset or blank) 2048; anything else stops the server at start.
- Same page: "Managed policies attached to an IAM role" 10 and "Managed policies attached to an
  IAM user" 10 (adjustable, to 20, not here), "Managed policies attached to an IAM group" 10
  (not adjustable). AttachRolePolicy / AttachUserPolicy / AttachGroupPolicy past them answer
  LimitExceeded "Cannot exceed quota for PoliciesPerRole: 10" (aws/eks-hybrid#741),
  "... PoliciesPerUser: 10", "... PoliciesPerGroup: 10" (aws/aws-cdk#13515). A missing policy
  or entity is still NoSuchEntity first. Attaching a policy that is already attached is no new
  attachment: it succeeds and changes nothing (moto counted it again in the policy's
  AttachmentCount for roles and users).
- ListUsers and ListRoles (IAM API reference): "IAM resource-listing operations return a subset
  of the available attributes for the resource. This operation does not return the following
  attributes, even though they are an attribute of the returned object": PermissionsBoundary
  and Tags (ListUsers), PermissionsBoundary, RoleLastUsed and Tags (ListRoles); GetUser,
  GetRole, ListUserTags and ListRoleTags do return tags. moto 5.2.1 already leaves those out
  through its response transformers; apply() pins the Tags ones, so that the tests here fail
  loudly if a moto upgrade drops them.
"""

from __future__ import annotations

import json
import os
import re

from .policy_conditions import condition_syntax_error
from .policy_limits import size

TRUST_QUOTA_ENV = "CIB_LOCAL_TRUST_POLICY_QUOTA"
TRUST_QUOTA_DEFAULT = 2048
TRUST_QUOTA_MAX = 4096
MANAGED_POLICIES_PER = {"role": 10, "user": 10, "group": 10}
QUOTA_NAMES = {"role": "PoliciesPerRole", "user": "PoliciesPerUser", "group": "PoliciesPerGroup"}
DUPLICATE_SID = "Statement IDs (SID) in a single policy must be unique."
SYNTAX_ERRORS = "Syntax errors in policy."

_WHOLE = re.compile(r"^[0-9]+$")

trust_quota = TRUST_QUOTA_DEFAULT  # set by apply() from the environment


def trust_quota_from_environment(environ=os.environ) -> int:
    """CIB_LOCAL_TRUST_POLICY_QUOTA: unset or blank → 2048; else a whole number 2048–4096."""
    raw = environ.get(TRUST_QUOTA_ENV, "").strip()
    if not raw:
        return TRUST_QUOTA_DEFAULT
    if not _WHOLE.match(raw) or not TRUST_QUOTA_DEFAULT <= int(raw) <= TRUST_QUOTA_MAX:
        raise ValueError(
            f"{TRUST_QUOTA_ENV} must be a whole number of characters from {TRUST_QUOTA_DEFAULT} to "
            f"{TRUST_QUOTA_MAX} (IAM's role trust policy length quota), not {raw!r}"
        )
    return int(raw)


def has_duplicate_sid(document: str) -> bool:
    """Whether two statements of the policy carry the same (non-empty) Sid."""
    try:
        policy = json.loads(document)
    except (TypeError, ValueError):
        return False  # moto's validation answers for what is not JSON
    if not isinstance(policy, dict):
        return False
    statements = policy.get("Statement")
    if not isinstance(statements, list):
        return False  # a single statement (or none) cannot repeat a Sid
    seen = set()
    for statement in statements:
        sid = statement.get("Sid") if isinstance(statement, dict) else None
        if not isinstance(sid, str) or not sid:
            continue
        if sid in seen:
            return True
        seen.add(sid)
    return False


def trust_policy_too_long(document: str, quota: int) -> bool:
    return size(document) > quota


def apply() -> None:
    global trust_quota
    try:
        trust_quota = trust_quota_from_environment()
    except ValueError as e:
        raise SystemExit(f"local AWS: {e}") from None

    from moto.iam.exceptions import LimitExceededException, MalformedPolicyDocument
    from moto.iam.models import IAMBackend

    def check_sids(document: str) -> None:
        """Every policy write: unique Sids, then conditions AWS can read."""
        if has_duplicate_sid(document):
            raise MalformedPolicyDocument(DUPLICATE_SID)
        if condition_syntax_error(document):
            raise MalformedPolicyDocument(SYNTAX_ERRORS)

    def check_trust(document: str) -> None:
        check_sids(document)
        if trust_policy_too_long(document, trust_quota):
            raise LimitExceededException(f"Cannot exceed quota for ACLSizePerRole: {trust_quota}")

    # --- Sids, in every call that writes a policy ---------------------------------------------

    def inline(method_name: str, lookup: str):
        original = getattr(IAMBackend, method_name)

        def put(self, entity_name, policy_name, policy_json):
            getattr(self, lookup)(entity_name)  # NoSuchEntity first, as on AWS
            check_sids(policy_json)
            return original(self, entity_name, policy_name, policy_json)

        setattr(IAMBackend, method_name, put)

    inline("put_role_policy", "get_role")
    inline("put_user_policy", "get_user")
    inline("put_group_policy", "get_group")

    create_policy = IAMBackend.create_policy

    def create(self, description, path, policy_document, policy_name, tags):
        check_sids(policy_document)
        return create_policy(self, description, path, policy_document, policy_name, tags)

    IAMBackend.create_policy = create

    create_version = IAMBackend.create_policy_version

    def create_policy_version(self, policy_arn, policy_document, set_as_default):
        self.get_policy(policy_arn)  # NoSuchEntity first
        check_sids(policy_document)
        return create_version(self, policy_arn, policy_document, set_as_default)

    IAMBackend.create_policy_version = create_policy_version

    # --- trust policies: Sids and the length quota --------------------------------------------

    create_role = IAMBackend.create_role

    def create_role_checked(self, role_name, assume_role_policy_document, *args, **kwargs):
        check_trust(assume_role_policy_document)
        return create_role(self, role_name, assume_role_policy_document, *args, **kwargs)

    IAMBackend.create_role = create_role_checked

    update_trust = IAMBackend.update_assume_role_policy

    def update_assume_role_policy(self, role_name, policy_document):
        self.get_role(role_name)  # NoSuchEntity first
        check_trust(policy_document)
        return update_trust(self, role_name, policy_document)

    IAMBackend.update_assume_role_policy = update_assume_role_policy

    # --- managed policies attached per entity -------------------------------------------------

    def attach(method_name: str, kind: str, lookup: str):
        original = getattr(IAMBackend, method_name)
        limit = MANAGED_POLICIES_PER[kind]
        message = f"Cannot exceed quota for {QUOTA_NAMES[kind]}: {limit}"

        def attach_policy(self, policy_arn, entity_name):
            policy = self.managed_policies.get(policy_arn)
            if policy is None or policy.arn != policy_arn:
                policy = next((p for p in self.managed_policies.values() if p.arn == policy_arn), None)
            if policy is None:
                return original(self, policy_arn, entity_name)  # moto's NoSuchEntity
            entity = getattr(self, lookup)(entity_name)  # NoSuchEntity
            if policy_arn in entity.managed_policies:
                return None  # already attached: not a new attachment
            if len(entity.managed_policies) >= limit:
                raise LimitExceededException(message)
            return original(self, policy_arn, entity_name)

        setattr(IAMBackend, method_name, attach_policy)

    attach("attach_role_policy", "role", "get_role")
    attach("attach_user_policy", "user", "get_user")
    attach("attach_group_policy", "group", "get_group")

    # --- ListUsers / ListRoles return no tags -------------------------------------------------

    from moto.core.serialize import never_return
    from moto.iam.responses import IamResponse

    IamResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER = {
        **IamResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER,
        "ListUsersResponse.Users.User.Tags": never_return,
        "ListRolesResponse.Roles.Role.Tags": never_return,
    }
