"""AWS Organizations as the broker's discovery uses it (`organizations_rules`), end to end on the
real server: the default account (ACCOUNT, its allow-all admin) makes the organization and its
members with CreateAccount; a member is reached, as the local runner's seed does, through the
OrganizationAccountAccessRole that CreateAccount makes trusting the management account. Each test
names the AWS page its case comes from and asserts the exact error code (and message where AWS
gives one) next to the success it is contrasted with.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError
from conftest import ACCOUNT, ALLOW_ALL, Aws, Keys, assume, code, trust, unique

NO_PERMISSION = "You don't have permissions to access this resource."
CLOSURE = "/moto-api/cib/organizations/closure"


def closure_delay(aws: Aws, milliseconds=None, raw: bytes | None = None) -> tuple[int, dict]:
    """GET (no value) or POST the closure delay control endpoint."""
    data = raw if raw is not None else (None if milliseconds is None else json.dumps({"Milliseconds": milliseconds}).encode())
    request = urllib.request.Request(aws.endpoint + CLOSURE, data=data, method="GET" if data is None else "POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


@pytest.fixture(scope="module")
def org(aws):
    """The organization of ACCOUNT: (its id, its root id)."""
    client = aws.client("organizations", aws.admin)
    org_id = client.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    root = client.list_roots()["Roots"][0]["Id"]
    return org_id, root


def orgs(aws: Aws, keys: Keys | None = None, **config):
    return aws.client("organizations", keys or aws.admin, **config)


def new_account(aws: Aws, parent: str | None = None, name: str | None = None) -> str:
    """CreateAccount (then MoveAccount from the root into `parent`), as the local runner seeds."""
    client = orgs(aws)
    name = name or unique("acct")
    account = client.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]["AccountId"]
    if parent is not None:
        source = client.list_parents(ChildId=account)["Parents"][0]["Id"]
        client.move_account(AccountId=account, SourceParentId=source, DestinationParentId=parent)
    return account


def new_ou(aws: Aws, parent: str) -> str:
    return orgs(aws).create_organizational_unit(ParentId=parent, Name=unique("ou"))["OrganizationalUnit"]["Id"]


def member_keys(aws: Aws, account: str) -> Keys:
    """A session in the member through OrganizationAccountAccessRole (trusting the management account)."""
    return assume(aws, aws.admin, f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", "seed")


def refused(call, **kwargs) -> tuple[int, str, str, str | None]:
    """(HTTP status, code, message, Reason) of a call that must fail."""
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    response = e.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], code(e), response["Error"]["Message"], response.get("Reason")


def every_account(client, **kwargs) -> list[dict]:
    accounts, token = [], None
    while True:
        page = client.list_accounts_for_parent(**kwargs, **({"NextToken": token} if token else {}))
        accounts += page["Accounts"]
        token = page.get("NextToken")
        if not token:
            return accounts


# --- Who may call ----------------------------------------------------------------------------------


def test_a_plain_member_may_describe_the_organization_but_not_read_it(aws, org):
    # https://docs.aws.amazon.com/organizations/latest/APIReference/API_DescribeOrganization.html:
    #   "You can call this operation from any account in a organization."
    # https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListRoots.html (and API_ListAccounts.html,
    # API_ListAccountsForParent.html, API_ListOrganizationalUnitsForParent.html,
    # API_ListChildren.html, API_ListParents.html, API_DescribeAccount.html,
    # API_DescribeOrganizationalUnit.html, same place; also action-reference.html):
    #   "You can only call this operation from the management account or a member account that
    #   is a delegated administrator."
    # AWS's answer: aws-samples/aws-iam-access-key-auto-rotation#10, awslabs/aws-innovation-sandbox#6.
    org_id, root = org
    ou = new_ou(aws, root)
    member = new_account(aws, ou)
    management = orgs(aws)
    assert {a["Id"] for a in management.list_accounts_for_parent(ParentId=ou)["Accounts"]} == {member}

    client = orgs(aws, member_keys(aws, member))
    assert client.describe_organization()["Organization"]["Id"] == org_id
    calls = {
        "ListRoots": (client.list_roots, {}),
        "ListAccounts": (client.list_accounts, {}),
        "ListAccountsForParent": (client.list_accounts_for_parent, {"ParentId": ou}),
        "ListOrganizationalUnitsForParent": (client.list_organizational_units_for_parent, {"ParentId": root}),
        "ListChildren": (client.list_children, {"ParentId": root, "ChildType": "ACCOUNT"}),
        "ListParents": (client.list_parents, {"ChildId": member}),
        "DescribeAccount": (client.describe_account, {"AccountId": member}),
        "DescribeOrganizationalUnit": (client.describe_organizational_unit, {"OrganizationalUnitId": ou}),
    }
    for name, (call, kwargs) in calls.items():
        assert refused(call, **kwargs)[:3] == (400, "AccessDeniedException", NO_PERMISSION), name


def test_a_member_may_not_move_close_or_create(aws, org):
    # https://docs.aws.amazon.com/organizations/latest/APIReference/API_MoveAccount.html:
    #   "You can only call this operation from the management account."
    # https://docs.aws.amazon.com/organizations/latest/APIReference/action-reference.html, "Operations you can call
    #   from only the organization's management account": CreateAccount, CreateOrganizationalUnit.
    # CloseAccount from a member account: AccessDeniedException (openshift/aws-account-operator#1050;
    # AWS's pages do not say).
    _, root = org
    ou = new_ou(aws, root)
    member, other = new_account(aws, ou), new_account(aws)
    client = orgs(aws, member_keys(aws, member))
    for call, kwargs in (
        (client.move_account, {"AccountId": other, "SourceParentId": root, "DestinationParentId": ou}),
        (client.close_account, {"AccountId": other}),
        (client.create_account, {"AccountName": "x", "Email": "x@example.com"}),
        (client.create_organizational_unit, {"ParentId": root, "Name": unique("ou")}),
    ):
        assert refused(call, **kwargs)[:3] == (400, "AccessDeniedException", NO_PERMISSION)
    assert orgs(aws).list_parents(ChildId=other)["Parents"][0]["Id"] == root  # not moved


def test_a_delegated_administrator_reads_the_organization(aws, org):
    # https://docs.aws.amazon.com/organizations/latest/userguide/orgs_integrate_delegated_admin.html:
    # "By registering a member account as a delegated administrator for an AWS service you enable
    # that account to have some administrative permissions for that service, as well as
    # permissions for Organizations read-only actions." The broker's spec accepts a delegated
    # administrator's role for discovery.
    _, root = org
    ou = new_ou(aws, root)
    admin, member = new_account(aws), new_account(aws, ou)
    client = orgs(aws, member_keys(aws, admin))
    assert refused(client.list_roots)[1] == "AccessDeniedException"

    orgs(aws).register_delegated_administrator(AccountId=admin, ServicePrincipal="ssm.amazonaws.com")
    assert client.list_roots()["Roots"][0]["Id"] == root
    assert [u["Id"] for u in client.list_organizational_units_for_parent(ParentId=root)["OrganizationalUnits"]].count(ou) == 1
    assert [a["Id"] for a in client.list_accounts_for_parent(ParentId=ou)["Accounts"]] == [member]
    assert client.describe_account(AccountId=member)["Account"]["State"] == "ACTIVE"
    assert client.list_parents(ChildId=member)["Parents"] == [{"Id": ou, "Type": "ORGANIZATIONAL_UNIT"}]
    seen, token = set(), None
    while True:
        page = client.list_accounts(**({"NextToken": token} if token else {}))
        seen |= {a["Id"] for a in page["Accounts"]}
        token = page.get("NextToken")
        if not token:
            break
    assert {ACCOUNT, admin, member} <= seen
    # Still no writes (management account only).
    assert refused(client.move_account, AccountId=member, SourceParentId=ou, DestinationParentId=root)[1] == "AccessDeniedException"


def test_an_account_in_no_organization(aws, org):
    # https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccounts.html and
    # https://docs.aws.amazon.com/organizations/latest/APIReference/API_DescribeOrganization.html, Errors:
    #   AWSOrganizationsNotInUseException, "Your account isn't a member of an organization."
    # moto answered ListAccounts with [].
    client = orgs(aws, aws.other_admin)
    for call in (client.list_accounts, client.describe_organization, client.list_roots):
        assert refused(call)[1] == "AWSOrganizationsNotInUseException"
    assert refused(client.list_accounts_for_parent, ParentId=org[1])[1] == "AWSOrganizationsNotInUseException"


# --- Page sizes ------------------------------------------------------------------------------------


def test_pages_hold_at_most_twenty(aws, org):
    # https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccounts.html (and API_ListAccountsForParent.html,
    # API_ListOrganizationalUnitsForParent.html, API_ListRoots.html, API_ListChildren.html,
    # API_ListParents.html), MaxResults: "Valid Range: Minimum value of 1. Maximum value of 20."
    #   "When calling List* operations, always check the NextToken response parameter value ...
    #   Continue making requests until NextToken returns null."
    # InvalidInputException's reasons (same pages, Errors): "MAX_VALUE_EXCEEDED: You provided a
    # numeric parameter that has a larger value than allowed." (MIN_VALUE_EXCEEDED alike).
    _, root = org
    ou = new_ou(aws, root)
    made = {new_account(aws, ou) for _ in range(23)}
    client = orgs(aws)
    first = client.list_accounts_for_parent(ParentId=ou)
    assert len(first["Accounts"]) == 20 and first.get("NextToken")  # a client ignoring NextToken misses 3
    assert {a["Id"] for a in every_account(client, ParentId=ou)} == made
    everyone = client.list_accounts()
    assert len(everyone["Accounts"]) == 20 and everyone.get("NextToken")  # moto gave 100
    small = client.list_accounts_for_parent(ParentId=ou, MaxResults=7)
    assert len(small["Accounts"]) == 7 and small.get("NextToken")
    assert len(client.list_accounts_for_parent(ParentId=ou, MaxResults=20)["Accounts"]) == 20
    # InvalidInputExceptionReason INVALID_NEXT_TOKEN: a token no previous call gave, or one given
    # for another parent.
    for token in ("garbage", first["NextToken"]):
        assert refused(client.list_accounts_for_parent, ParentId=root, NextToken=token)[1::2] == ("InvalidInputException", "INVALID_NEXT_TOKEN")

    unchecked = orgs(aws, parameter_validation=False)  # botocore checks the minimum itself
    for call, kwargs in (
        (unchecked.list_accounts, {}),
        (unchecked.list_accounts_for_parent, {"ParentId": ou}),
        (unchecked.list_organizational_units_for_parent, {"ParentId": root}),
        (unchecked.list_roots, {}),
        (unchecked.list_children, {"ParentId": root, "ChildType": "ACCOUNT"}),
        (unchecked.list_parents, {"ChildId": next(iter(made))}),
    ):
        assert refused(call, MaxResults=21, **kwargs) == (
            400,
            "InvalidInputException",
            "You provided a numeric parameter that has a larger value than allowed.",
            "MAX_VALUE_EXCEEDED",
        )
        assert refused(call, MaxResults=0, **kwargs)[1::2] == ("InvalidInputException", "MIN_VALUE_EXCEEDED")


def test_organizational_units_page_at_twenty_too(aws, org):
    # https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListOrganizationalUnitsForParent.html:
    #   MaxResults "Maximum value of 20", NextToken.
    _, root = org
    parent = new_ou(aws, root)
    made = {new_ou(aws, parent) for _ in range(21)}
    client = orgs(aws)
    first = client.list_organizational_units_for_parent(ParentId=parent)
    assert len(first["OrganizationalUnits"]) == 20 and first.get("NextToken")
    rest = client.list_organizational_units_for_parent(ParentId=parent, NextToken=first["NextToken"])
    assert {u["Id"] for u in first["OrganizationalUnits"] + rest["OrganizationalUnits"]} == made
    assert not rest.get("NextToken")


# --- CloseAccount ----------------------------------------------------------------------------------


def test_close_account_is_pending_then_closed_and_stays_in_its_ou(aws, org):
    # https://docs.aws.amazon.com/organizations/latest/APIReference/API_CloseAccount.html:
    #   "While the close account request is in progress, Account status will indicate
    #   PENDING_CLOSURE. When the close account request completes, the status will change to
    #   SUSPENDED."
    # State (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_account_state.html
    # and AWS's announcement of the field): PENDING_CLOSURE "for in-process closure requests",
    # CLOSED "for accounts in their 90-day reinstatement window".
    _, root = org
    ou = new_ou(aws, root)
    account = new_account(aws, ou)
    client = orgs(aws)
    assert closure_delay(aws, 600_000) == (200, {"Milliseconds": 600_000})
    try:
        client.close_account(AccountId=account)
        described = client.describe_account(AccountId=account)["Account"]
        assert (described["Status"], described["State"]) == ("PENDING_CLOSURE", "PENDING_CLOSURE")
        listed = client.list_accounts_for_parent(ParentId=ou)["Accounts"]
        assert [(a["Id"], a["Status"], a["State"]) for a in listed] == [(account, "PENDING_CLOSURE", "PENDING_CLOSURE")]
        # https://docs.aws.amazon.com/organizations/latest/APIReference/API_CloseAccount.html, Errors:
        #   AccountAlreadyClosedException, "You attempted to close an account that is already closed."
        assert refused(client.close_account, AccountId=account)[1] == "AccountAlreadyClosedException"

        assert closure_delay(aws, 0) == (200, {"Milliseconds": 0})  # completes pending closures
        described = client.describe_account(AccountId=account)["Account"]
        assert (described["Status"], described["State"]) == ("SUSPENDED", "CLOSED")
        # A closed account stays where it was until AWS removes it (90 days, not played here).
        listed = client.list_accounts_for_parent(ParentId=ou)["Accounts"]
        assert [(a["Id"], a["Status"], a["State"]) for a in listed] == [(account, "SUSPENDED", "CLOSED")]
        assert client.list_parents(ChildId=account)["Parents"][0]["Id"] == ou
        assert refused(client.close_account, AccountId=account)[1] == "AccountAlreadyClosedException"
    finally:
        closure_delay(aws, 5_000)


def test_closure_completes_after_the_delay(aws, org):
    # https://docs.aws.amazon.com/organizations/latest/APIReference/API_CloseAccount.html:
    #   "You need to wait a few minutes before the account is fully closed" (here
    #   CIB_LOCAL_ORG_CLOSURE_MS, default 5,000 ms, set to 1,000 ms for this test).
    account = new_account(aws)
    client = orgs(aws)
    assert closure_delay(aws) == (200, {"Milliseconds": 5_000})  # the default
    closure_delay(aws, 1_000)
    try:
        client.close_account(AccountId=account)
        assert client.describe_account(AccountId=account)["Account"]["State"] == "PENDING_CLOSURE"
        time.sleep(1.2)
        everyone, token = [], None
        while True:
            page = client.list_accounts(**({"NextToken": token} if token else {}))
            everyone += page["Accounts"]
            token = page.get("NextToken")
            if not token:
                break
        assert [(a["Status"], a["State"]) for a in everyone if a["Id"] == account] == [("SUSPENDED", "CLOSED")]
    finally:
        closure_delay(aws, 5_000)


def test_the_management_account_cannot_be_closed(aws, org):
    # https://docs.aws.amazon.com/organizations/latest/APIReference/API_CloseAccount.html:
    #   "You can't close the management account with this API." ConstraintViolationException,
    #   "CLOSE_MANAGEMENT_ACCOUNT: You attempted to close the management account." (the reason's
    #   enum value is CANNOT_CLOSE_MANAGEMENT_ACCOUNT).
    status, error, message, reason = refused(orgs(aws).close_account, AccountId=ACCOUNT)
    assert (status, error, reason) == (400, "ConstraintViolationException", "CANNOT_CLOSE_MANAGEMENT_ACCOUNT")
    assert orgs(aws).describe_account(AccountId=ACCOUNT)["Account"]["State"] == "ACTIVE"


def test_closure_delay_endpoint_and_environment(aws):
    # The control endpoint (local only) and CIB_LOCAL_ORG_CLOSURE_MS's validation.
    from cib_local_aws import organizations_rules as rules

    for raw in (b"not json", b"[]", b"{}", b'{"Milliseconds": "5"}', b'{"Milliseconds": -1}', b'{"Milliseconds": 1.5}', b'{"Milliseconds": 86400001}'):
        status, body = closure_delay(aws, raw=raw)
        assert status == 400 and body["message"], raw
    assert closure_delay(aws) == (200, {"Milliseconds": 5_000})
    assert rules.closure_delay_from_environment({}) == 5_000
    assert rules.closure_delay_from_environment({rules.CLOSURE_ENV: " "}) == 5_000
    assert rules.closure_delay_from_environment({rules.CLOSURE_ENV: "0"}) == 0
    for bad in ("-1", "1.5", "soon", "86400001"):
        with pytest.raises(ValueError, match=rules.CLOSURE_ENV):
            rules.closure_delay_from_environment({rules.CLOSURE_ENV: bad})


# --- Closed accounts -------------------------------------------------------------------------------


def test_a_closed_account_cannot_be_assumed_into_nor_used(aws, org):
    # https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_close.html:
    #   "Immediately, the account can no longer be used for any AWS activity other than signing
    #   in as the root user to view past bills or to contact AWS Support."
    # https://docs.aws.amazon.com/accounts/latest/reference/manage-acct-closing.html:
    #   "You will no longer be able to access AWS services that were previously available in
    #   your account."
    # AWS documents no error; AssumeRole into a suspended account answers AccessDenied
    # (aws-samples/aws-security-reference-architecture-examples#218). Refused from the call on,
    # while PENDING_CLOSURE too (the stricter reading, see organizations_rules).
    account = new_account(aws)
    keys = member_keys(aws, account)  # a session issued before the closure
    iam = aws.client("iam", keys)
    role_name = unique("CloudIamBrokerAccess")
    role_arn = iam.create_role(
        RoleName=role_name,
        AssumeRolePolicyDocument=trust({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}),
    )["Role"]["Arn"]
    iam.put_role_policy(RoleName=role_name, PolicyName="all", PolicyDocument=ALLOW_ALL)
    user_key = iam.create_access_key(UserName=iam.create_user(UserName=unique("u"))["User"]["UserName"])["AccessKey"]
    user = Keys(user_key["AccessKeyId"], user_key["SecretAccessKey"])  # no policies: GetCallerIdentity only
    assert aws.client("sts", assume(aws, aws.admin, role_arn, "before")).get_caller_identity()["Account"] == account
    assert aws.client("sts", user).get_caller_identity()["Account"] == account

    closure_delay(aws, 600_000)
    try:
        orgs(aws).close_account(AccountId=account)
        assert orgs(aws).describe_account(AccountId=account)["Account"]["State"] == "PENDING_CLOSURE"
        caller = aws.client("sts", aws.admin).get_caller_identity()["Arn"]
        assert refused(aws.client("sts", aws.admin).assume_role, RoleArn=role_arn, RoleSessionName="after")[:3] == (
            403,
            "AccessDenied",
            f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
        )
        status, error, message, _ = refused(aws.client("iam", keys).list_roles)
        assert (status, error) == (403, "AccessDenied") and message.endswith(f"because the account {account} is closed")
        for who in (keys, user):
            assert refused(aws.client("sts", who).get_caller_identity)[1] == "AccessDenied"
        assert refused(aws.client("dynamodb", keys).list_tables)[1] == "AccessDeniedException"
        assert refused(aws.client("s3", keys).list_buckets)[1] == "AccessDenied"

        closure_delay(aws, 0)
        assert orgs(aws).describe_account(AccountId=account)["Account"]["State"] == "CLOSED"
        assert refused(aws.client("sts", aws.admin).assume_role, RoleArn=role_arn, RoleSessionName="after")[1] == "AccessDenied"
        assert refused(aws.client("iam", keys).list_roles)[1] == "AccessDenied"
    finally:
        closure_delay(aws, 5_000)
    # Other members are untouched.
    other = new_account(aws)
    assert aws.client("sts", member_keys(aws, other)).get_caller_identity()["Account"] == other


# --- MoveAccount -----------------------------------------------------------------------------------


def test_move_account_checks_source_destination_and_account(aws, org):
    # https://docs.aws.amazon.com/organizations/latest/APIReference/API_MoveAccount.html:
    #   "Moves an account from its current source parent root or organizational unit (OU) to the
    #   specified destination parent root or OU." Errors: SourceParentNotFoundException ("We can't
    #   find a source root or OU with the ParentId that you specified."),
    #   DestinationParentNotFoundException, DuplicateAccountException ("That account is already
    #   present in the specified destination."), AccountNotFoundException.
    _, root = org
    a, b = new_ou(aws, root), new_ou(aws, root)
    account = new_account(aws, a)
    client = orgs(aws)
    missing_ou = f"ou-{root[2:]}-zzzzzzzz"

    assert refused(client.move_account, AccountId=account, SourceParentId=root, DestinationParentId=b)[1] == "SourceParentNotFoundException"  # not its parent
    assert refused(client.move_account, AccountId=account, SourceParentId=missing_ou, DestinationParentId=b)[1] == "SourceParentNotFoundException"
    assert refused(client.move_account, AccountId=account, SourceParentId=a, DestinationParentId=missing_ou)[1] == "DestinationParentNotFoundException"
    assert refused(client.move_account, AccountId=account, SourceParentId=a, DestinationParentId=a)[1:3] == (
        "DuplicateAccountException",
        "That account is already present in the specified destination.",
    )
    assert refused(client.move_account, AccountId="999999999999", SourceParentId=a, DestinationParentId=b)[1] == "AccountNotFoundException"
    assert client.list_parents(ChildId=account)["Parents"][0]["Id"] == a  # none of those moved it

    client.move_account(AccountId=account, SourceParentId=a, DestinationParentId=b)
    assert client.list_parents(ChildId=account)["Parents"] == [{"Id": b, "Type": "ORGANIZATIONAL_UNIT"}]
    assert [x["Id"] for x in client.list_accounts_for_parent(ParentId=b)["Accounts"]] == [account]
    assert client.list_accounts_for_parent(ParentId=a)["Accounts"] == []


# --- What a seed needs -----------------------------------------------------------------------------


def test_create_accounts_role_administers_the_member(aws, org):
    # https://docs.aws.amazon.com/organizations/latest/APIReference/API_CreateAccount.html, RoleName:
    #   "The name of an IAM role that Organizations automatically preconfigures in the new member
    #   account. This role trusts the management account, allowing users in the management
    #   account to assume the role, as permitted by the management account administrator. The
    #   role has administrator permissions in the new member account." Default
    #   OrganizationAccountAccessRole. moto made the role with no permissions.
    account = new_account(aws)
    iam = aws.client("iam", member_keys(aws, account))
    assert "OrganizationAccountAccessRole" in {r["RoleName"] for r in iam.list_roles()["Roles"]}
    name = unique("seeded")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}))
    assert iam.get_role(RoleName=name)["Role"]["Arn"] == f"arn:aws:iam::{account}:role/{name}"

    custom = orgs(aws).create_account(AccountName="custom", Email="custom@example.com", RoleName="Custom")["CreateAccountStatus"]["AccountId"]
    keys = assume(aws, aws.admin, f"arn:aws:iam::{custom}:role/Custom", "seed")
    assert aws.client("iam", keys).get_role_policy(RoleName="Custom", PolicyName="AdministratorAccess")["PolicyName"] == "AdministratorAccess"
