"""Permission set ARNs as IAM Identity Center makes them.

AWS: `arn:aws:sso:::permissionSet/ssoins-<16>/ps-<16>` (IAM Identity Center API reference,
CreatePermissionSet's PermissionSetArn and every operation's pattern
`arn:(aws|aws-us-gov|aws-cn|aws-iso|aws-iso-b):sso:::permissionSet/(sso)?ins-[a-zA-Z0-9-.]{16}/ps-[a-zA-Z0-9-./]{16}`;
"Amazon Resource Names for IAM Identity Center", the Service Authorization Reference's
`PermissionSet` resource: `arn:${Partition}:sso:::permissionSet/${InstanceId}/${PermissionSetId}`).
moto 5.2.1 appends `/ps-…` to the instance's ARN
(`arn:aws:sso:::instance/ssoins-…/ps-…`), which no client validating AWS's pattern accepts.
"""

from __future__ import annotations

from moto.moto_api._internal import mock_random as random
from moto.ssoadmin import models


def permission_set_arn(instance_arn: str) -> str:
    """A new permission set's ARN under `instance_arn` (`arn:<p>:sso:::instance/<id>`)."""
    partition = instance_arn.split(":")[1]
    instance_id = instance_arn.rsplit("/", 1)[-1]
    return f"arn:{partition}:sso:::permissionSet/{instance_id}/ps-{random.get_random_string(length=16).lower()}"


def apply() -> None:
    models.PermissionSet.generate_id = staticmethod(permission_set_arn)
