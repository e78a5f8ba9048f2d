"""IAM's propagation delay for what authorization evaluates: inline policies, managed policy
attachments and default versions, roles' trust policies and new roles (`iam_propagation` has the
model, `iam_propagation_delay` the delay and the journal).

Owns, per concern, the view (what `principals` and `enforcement` evaluate now), what each
changing call touches (for the journal) and IAM's read calls as seen now:
- inline policies ("inline", account, kind, entity id, policy name → document or None):
  Put/Delete{User,Role,Group}Policy; Get{User,Role,Group}Policy, List{User,Role,Group}Policies;
- managed attachments ("attached", account, kind, entity id, policy ARN → policy or None):
  Attach/Detach{User,Role,Group}Policy; ListAttached{User,Role,Group}Policies;
- default versions ("default", account, policy id → (version id, document)): CreatePolicyVersion
  with SetAsDefault, SetDefaultPolicyVersion; GetPolicy, GetPolicyVersion, ListPolicyVersions.
  The document is kept, not the version, so a previous default deleted meanwhile is still what
  is evaluated until the change is seen;
- trust ("trust", account, role id → document): UpdateAssumeRolePolicy; GetRole, ListRoles;
- new roles ("role", account, role id → visible?): CreateRole; AssumeRole refuses a role not
  visible yet as one that does not exist (`enforcement`).
"""

from __future__ import annotations

from .iam_propagation_delay import LIVE, journal, kind, view

# --- What authorization and IAM's reads see ------------------------------------------------------


def inline_policies(entity) -> dict[str, str]:
    """A user's, role's or group's inline policies as seen now (name → document). Read only."""
    live = entity.policies
    if not journal:
        return live
    seen = journal.under(("inline", entity.account_id, kind(entity), entity.id))
    if not seen:
        return live
    out = dict(live)
    for key, document in seen.items():
        if document is None:
            out.pop(key[-1], None)
        else:
            out[key[-1]] = document
    return out


def attached_policies(entity) -> dict:
    """A user's, role's or group's attached managed policies as seen now (ARN → policy)."""
    live = entity.managed_policies
    if not journal:
        return live
    seen = journal.under(("attached", entity.account_id, kind(entity), entity.id))
    if not seen:
        return live
    out = dict(live)
    for key, policy in seen.items():
        if policy is None:
            out.pop(key[-1], None)
        else:
            out[key[-1]] = policy
    return out


def _default_of(policy) -> tuple[str, str] | None:
    for version in policy.versions:
        if version.is_default:
            return version.version_id, version.document
    return None


def _default_seen(policy) -> tuple[str, str] | None:
    if journal:
        seen = journal.seen(("default", policy.account_id, policy.id))
        if seen is not LIVE:
            return seen
    return _default_of(policy)


def default_document(policy) -> str | None:
    """The document of a managed policy's default version as seen now."""
    default = _default_seen(policy)
    return default[1] if default is not None else None


def trust_policy(role) -> str:
    """A role's trust policy as seen now."""
    if journal:
        seen = journal.seen(("trust", role.account_id, role.id))
        if seen is not LIVE:
            return seen
    return role.assume_role_policy_document


def role_visible(role) -> bool:
    """False while the role's creation has not reached STS yet."""
    if journal:
        seen = journal.seen(("role", role.account_id, role.id))
        if seen is not LIVE:
            return bool(seen)
    return True


# --- What each change touches (for iam_propagation_delay.track / track_creation) -------------------


def _inline(getter):
    def locate(self, entity_name, policy_name, *_, **__):
        entity = getattr(self, getter)(entity_name)
        key = ("inline", self.account_id, kind(entity), entity.id, policy_name)
        return [(key, lambda: entity.policies.get(policy_name), None)]

    return locate


def _attachment(getter):
    def locate(self, policy_arn, entity_name, *_, **__):
        entity = getattr(self, getter)(entity_name)
        key = ("attached", self.account_id, kind(entity), entity.id, policy_arn)
        return [(key, lambda: entity.managed_policies.get(policy_arn), None)]

    return locate


def _default_version(self, policy_arn, *_, **__):
    policy = self.get_policy(policy_arn)
    return [(("default", self.account_id, policy.id), lambda: _default_of(policy), None)]


def _new_default_version(self, policy_arn, policy_document, set_as_default, *_, **__):
    return _default_version(self, policy_arn) if set_as_default else []


def _trust(self, role_name, *_, **__):
    role = self.get_role(role_name)
    return [(("trust", self.account_id, role.id), lambda: role.assume_role_policy_document, None)]


def _new_role(self, role):
    return ("role", self.account_id, role.id), False, True, None


TRACKED = {  # IAMBackend method → what it changes
    "put_user_policy": _inline("get_user"),
    "delete_user_policy": _inline("get_user"),
    "put_role_policy": _inline("get_role"),
    "delete_role_policy": _inline("get_role"),
    "put_group_policy": _inline("get_group"),
    "delete_group_policy": _inline("get_group"),
    "attach_user_policy": _attachment("get_user"),
    "detach_user_policy": _attachment("get_user"),
    "attach_role_policy": _attachment("get_role"),
    "detach_role_policy": _attachment("get_role"),
    "attach_group_policy": _attachment("get_group"),
    "detach_group_policy": _attachment("get_group"),
    "create_policy_version": _new_default_version,
    "set_default_policy_version": _default_version,
    "update_assume_role_policy": _trust,
}
CREATED = {  # IAMBackend method → the thing its result is
    "create_role": _new_role,
}


# --- Reads ---------------------------------------------------------------------------------------


def reads() -> dict:
    """IamResponse handlers used while something is pending (iam_propagation_delay.while_pending)."""
    from moto.core.responses import ActionResult
    from moto.iam.exceptions import NotFoundException

    def get_inline(getter, entity_param, answer_name, missing):
        def handler(self, original):
            entity = getattr(self.backend, getter)(self._get_param(entity_param))
            name = self._get_param("PolicyName")
            document = inline_policies(entity).get(name)
            if document is None:
                raise NotFoundException(missing(name, entity.name))
            return ActionResult({answer_name: entity.name, "PolicyName": name, "PolicyDocument": document})

        return handler

    def list_inline(getter, entity_param, truncated):
        def handler(self, original):
            entity = getattr(self.backend, getter)(self._get_param(entity_param))
            result = {"PolicyNames": list(inline_policies(entity))}
            if truncated:
                result["IsTruncated"] = False
            return ActionResult(result)

        return handler

    def list_attached(getter, entity_param):
        def handler(self, original):
            entity = getattr(self.backend, getter)(self._get_param(entity_param))
            policies, marker = self.backend._filter_attached_policies(
                list(attached_policies(entity).values()),
                self._get_param("Marker"),
                self._get_int_param("MaxItems", 100),
                self._get_param("PathPrefix", "/"),
            )
            return ActionResult(
                {
                    "AttachedPolicies": [{"PolicyName": p.name, "PolicyArn": p.arn} for p in policies],
                    "Marker": marker,
                    "IsTruncated": bool(marker),
                }
            )

        return handler

    def seen_default_id(policy) -> str | None:
        default = _default_seen(policy)
        return default[0] if default is not None else None

    def version_view(policy, version):
        is_default = version.version_id == seen_default_id(policy)
        return version if version.is_default == is_default else view(version, is_default=is_default)

    def get_policy(self, original):
        policy = self.backend.get_policy(self._get_param("PolicyArn"))
        default_id = seen_default_id(policy)
        if default_id is None or default_id == policy.default_version_id:
            return original(self)
        return ActionResult({"Policy": view(policy, default_version_id=default_id)})

    def get_policy_version(self, original):
        arn = self._get_param("PolicyArn")
        version = self.backend.get_policy_version(arn, self._get_param("VersionId"))
        return ActionResult({"PolicyVersion": version_view(self.backend.get_policy(arn), version)})

    def list_policy_versions(self, original):
        arn = self._get_param("PolicyArn")
        policy = self.backend.get_policy(arn)
        versions = self.backend.list_policy_versions(arn)
        return ActionResult({"Versions": [version_view(policy, v) for v in versions]})

    def role_view(role):
        document = trust_policy(role)
        return role if document is role.assume_role_policy_document else view(role, assume_role_policy_document=document)

    def get_role(self, original):
        role = self.backend.get_role(self._get_param("RoleName"))
        return ActionResult({"Role": role_view(role)})

    def list_roles(self, original):
        roles, marker = self.backend.list_roles(
            self._get_param("PathPrefix", "/"), self._get_param("Marker", "0"), self._get_param("MaxItems", 100)
        )
        return ActionResult({"Roles": [role_view(r) for r in roles], "IsTruncated": bool(marker), "Marker": marker})

    return {
        "get_user_policy": get_inline("get_user", "UserName", "UserName", lambda n, _: f"Policy {n} not found"),
        "get_group_policy": get_inline("get_group", "GroupName", "GroupName", lambda n, _: f"Policy {n} not found"),
        "get_role_policy": get_inline(
            "get_role", "RoleName", "RoleName", lambda n, e: f"Policy Document {n} not attached to role {e}"
        ),
        "list_user_policies": list_inline("get_user", "UserName", True),
        "list_role_policies": list_inline("get_role", "RoleName", True),
        "list_group_policies": list_inline("get_group", "GroupName", False),
        "list_attached_user_policies": list_attached("get_user", "UserName"),
        "list_attached_role_policies": list_attached("get_role", "RoleName"),
        "list_attached_group_policies": list_attached("get_group", "GroupName"),
        "get_policy": get_policy,
        "get_policy_version": get_policy_version,
        "list_policy_versions": list_policy_versions,
        "get_role": get_role,
        "list_roles": list_roles,
    }
