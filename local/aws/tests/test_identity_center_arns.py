"""Permission set ARNs in AWS's shape (identity_center_arns), checked against the pattern the
IAM Identity Center API reference gives every PermissionSetArn parameter."""

import re

from cib_local_aws import identity_center_arns

PATTERN = re.compile(
    r"^arn:(aws|aws-us-gov|aws-cn|aws-iso|aws-iso-b):sso:::permissionSet/(sso)?ins-[a-zA-Z0-9-.]{16}/ps-[a-zA-Z0-9-./]{16}$"
)


def test_a_permission_set_arn_names_its_instance_id_not_its_arn():
    arn = identity_center_arns.permission_set_arn("arn:aws:sso:::instance/ssoins-0123456789abcdef")
    assert PATTERN.match(arn), arn
    assert arn.startswith("arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-")


def test_the_partition_is_the_instances():
    arn = identity_center_arns.permission_set_arn("arn:aws-us-gov:sso:::instance/ssoins-0123456789abcdef")
    assert arn.startswith("arn:aws-us-gov:sso:::permissionSet/"), arn
    assert PATTERN.match(arn)


def test_each_is_new():
    instance = "arn:aws:sso:::instance/ssoins-0123456789abcdef"
    assert len({identity_center_arns.permission_set_arn(instance) for _ in range(50)}) == 50
