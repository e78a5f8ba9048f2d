"""Fidelity: AssumeRole into a role that does not exist is refused (AccessDenied).

moto hands out credentials for any role ARN, existing or not (its docstring: "the role does
not need to exist"); requests made with them later make moto itself fail with HTTP 500. AWS
refuses the AssumeRole. This patch sits on the backend, so it also holds for the free,
unauthenticated requests at start (before `enforcement` runs any check).
"""

from __future__ import annotations


def apply() -> None:
    from moto.iam.models import iam_backends
    from moto.sts import models as sts
    from moto.sts.exceptions import STSClientError
    from moto.utilities.utils import get_partition

    original = sts.STSBackend.assume_role

    def assume_role(self, region_name, role_session_name, role_arn, *args, **kwargs):
        try:
            account = role_arn.split(":")[4]
            iam_backends[account][get_partition(region_name)].get_role_by_arn(role_arn)
        except Exception:
            raise STSClientError("AccessDenied", f"Not authorized to perform sts:AssumeRole on {role_arn}")
        return original(self, region_name, role_session_name, role_arn, *args, **kwargs)

    sts.STSBackend.assume_role = assume_role
