"""IAM Identity Center's OIDC device code sign-in (`identity_center_oidc`), end to end on the real
server with the unsigned sso-oidc client, as the AWS CLI drives it; the approval control endpoint
stands for the user's browser.

Cases from the IAM Identity Center OIDC API Reference (API_RegisterClient.html,
API_StartDeviceAuthorization.html, API_CreateToken.html and their errors) and RFC 8628 (§3.4 the
device access token request, §3.5 its error responses: authorization_pending, slow_down and "the
interval MUST be increased by 5 seconds for this and all subsequent requests", expired_token;
§6.1 user codes), and the portal's Logout (API_Logout.html).
"""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError
from conftest import code, unique
from identity_center import DEVICE_GRANT, approve, control, create_token, device_authorization, organization, unsigned, user

EXPIRE = "/moto-api/cib/sso/device/expire"
APPROVE = "/moto-api/cib/sso/device/approve"


@pytest.fixture(scope="module")
def center(aws):
    return organization(aws, members=0)


def refused(call, **kwargs) -> tuple[int, str, dict]:
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    response = e.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], code(e), response


def poll(aws, client, device):
    return lambda: create_token(aws, client, device)


def test_the_device_flow_is_pending_until_approved_then_gives_a_portal_token(aws, center):
    _, name = user(center)
    client, device = device_authorization(center)
    assert set(client) >= {"clientId", "clientSecret", "clientIdIssuedAt", "clientSecretExpiresAt"}
    assert client["clientSecretExpiresAt"] - client["clientIdIssuedAt"] == 90 * 86_400
    assert (device["expiresIn"], device["interval"]) == (600, 1)
    assert device["verificationUri"] == "https://device.sso.us-east-1.amazonaws.com/"
    assert device["verificationUriComplete"] == f"https://device.sso.us-east-1.amazonaws.com/?user_code={device['userCode']}"
    user_code = device["userCode"]
    assert len(user_code) == 9 and user_code[4] == "-" and set(user_code.replace("-", "")) <= set("BCDFGHJKLMNPQRSTVWXZ")

    status, error, response = refused(create_token, aws=aws, client=client, device=device)
    assert (status, error, response["error"]) == (400, "AuthorizationPendingException", "authorization_pending")
    assert approve(center, user_code, name)[0] == 200
    time.sleep(1.1)  # the interval
    token = create_token(aws, client, device)
    assert token["tokenType"] == "Bearer" and token["accessToken"] and 0 < token["expiresIn"] <= 8 * 3600
    assert "refreshToken" not in token  # a client that did not register the refresh grant
    assert unsigned(aws, "sso").list_accounts(accessToken=token["accessToken"])["accountList"] == []
    # The device code is spent.
    time.sleep(1.1)
    assert refused(create_token, aws=aws, client=client, device=device)[1] == "InvalidGrantException"


def test_polling_too_fast_slows_the_client_down(aws, center):
    client, device = device_authorization(center)
    assert refused(create_token, aws=aws, client=client, device=device)[1] == "AuthorizationPendingException"
    status, error, response = refused(create_token, aws=aws, client=client, device=device)  # at once
    assert (status, error, response["error"]) == (400, "SlowDownException", "slow_down")
    time.sleep(1.1)  # the old interval is not enough any more: it grew by 5 seconds
    assert refused(create_token, aws=aws, client=client, device=device)[1] == "SlowDownException"


def test_wrong_codes_and_clients_are_refused(aws, center):
    client, device = device_authorization(center)
    other_client, _ = device_authorization(center)
    oidc = unsigned(aws, "sso-oidc")
    assert refused(oidc.create_token, clientId=client["clientId"], clientSecret=client["clientSecret"], grantType=DEVICE_GRANT, deviceCode="made-up")[1] == "InvalidGrantException"
    # Another client's device code.
    assert refused(oidc.create_token, clientId=other_client["clientId"], clientSecret=other_client["clientSecret"], grantType=DEVICE_GRANT, deviceCode=device["deviceCode"])[1] == "InvalidGrantException"
    status, error, response = refused(oidc.create_token, clientId=client["clientId"], clientSecret="wrong", grantType=DEVICE_GRANT, deviceCode=device["deviceCode"])
    assert (status, error, response["error"]) == (401, "InvalidClientException", "invalid_client")
    assert refused(oidc.start_device_authorization, clientId="cib-unknown", clientSecret="x", startUrl=center.start_url)[1] == "InvalidClientException"
    assert refused(oidc.create_token, clientId=client["clientId"], clientSecret=client["clientSecret"], grantType="authorization_code", code="x")[1] == "UnsupportedGrantTypeException"
    assert refused(oidc.create_token, clientId=client["clientId"], clientSecret=client["clientSecret"], grantType="password")[1] == "UnsupportedGrantTypeException"
    assert refused(oidc.register_client, clientName="x", clientType="confidential")[1] == "InvalidClientMetadataException"
    assert refused(oidc.register_client, clientName="x", clientType="public", grantTypes=["password"])[1] == "UnsupportedGrantTypeException"
    assert refused(oidc.start_device_authorization, clientId=client["clientId"], clientSecret=client["clientSecret"], startUrl="http://plain")[1] == "InvalidRequestException"


def test_an_expired_device_authorization_cannot_be_approved_nor_exchanged(aws, center):
    _, name = user(center)
    client, device = device_authorization(center)
    assert control(aws, EXPIRE, {"UserCode": device["userCode"]}) == (200, {"UserCode": device["userCode"]})
    status, error, response = refused(create_token, aws=aws, client=client, device=device)
    assert (status, error, response["error"]) == (400, "ExpiredTokenException", "expired_token")
    status, body = approve(center, device["userCode"], name)
    assert status == 400 and "expired" in body["message"]
    assert control(aws, EXPIRE, {"UserCode": "BBBB-BBBB"})[0] == 404


def test_the_approval_endpoint(aws, center):
    user_id, name = user(center)
    _, device = device_authorization(center)
    user_code = device["userCode"]
    for body in ({}, {"UserCode": user_code}, {"UserCode": user_code, "IdentityStoreId": center.store_id}, {"UserCode": user_code, "IdentityStoreId": center.store_id, "UserName": name, "UserId": user_id}):
        assert control(aws, APPROVE, body)[0] == 400, body
    assert control(aws, APPROVE, raw=b"not json")[0] == 400
    assert control(aws, APPROVE, {"UserCode": "BBBB-BBBB", "IdentityStoreId": center.store_id, "UserName": name})[0] == 404
    assert control(aws, APPROVE, {"UserCode": user_code, "IdentityStoreId": "d-0000000000", "UserName": name})[0] == 400  # not the start URL's
    assert control(aws, APPROVE, {"UserCode": user_code, "IdentityStoreId": center.store_id, "UserName": unique("nobody")})[0] == 404
    status, body = control(aws, APPROVE, {"UserCode": user_code, "IdentityStoreId": center.store_id, "UserId": user_id})
    assert (status, body) == (200, {"UserCode": user_code, "IdentityStoreId": center.store_id, "UserId": user_id, "UserName": name})
    assert control(aws, APPROVE, {"UserCode": user_code, "IdentityStoreId": center.store_id, "UserId": user_id})[0] == 400  # already
    # A start URL of no instance: the identity store named must exist.
    oidc = unsigned(aws, "sso-oidc")
    client = oidc.register_client(clientName="x", clientType="public")
    lost = oidc.start_device_authorization(clientId=client["clientId"], clientSecret=client["clientSecret"], startUrl="https://d-0000000000.awsapps.com/start")
    assert control(aws, APPROVE, {"UserCode": lost["userCode"], "IdentityStoreId": "d-0000000000", "UserName": name})[0] == 404


def test_refresh_tokens_and_logout(aws, center):
    _, name = user(center)
    client, device = device_authorization(center, grant_types=[DEVICE_GRANT, "refresh_token"])
    assert approve(center, device["userCode"], name)[0] == 200
    token = create_token(aws, client, device)
    assert token["expiresIn"] <= 3600 and token["refreshToken"]  # refreshable: one hour
    oidc, sso = unsigned(aws, "sso-oidc"), unsigned(aws, "sso")
    renewed = oidc.create_token(clientId=client["clientId"], clientSecret=client["clientSecret"], grantType="refresh_token", refreshToken=token["refreshToken"])
    assert renewed["accessToken"] != token["accessToken"] and renewed["refreshToken"] != token["refreshToken"]
    sso.list_accounts(accessToken=renewed["accessToken"])
    # A refresh token is spent once used.
    assert refused(oidc.create_token, clientId=client["clientId"], clientSecret=client["clientSecret"], grantType="refresh_token", refreshToken=token["refreshToken"])[1] == "InvalidGrantException"
    sso.logout(accessToken=renewed["accessToken"])
    # Logout ends the sign-in: every token of it.
    assert refused(sso.list_accounts, accessToken=token["accessToken"])[1] == "UnauthorizedException"
    assert refused(oidc.create_token, clientId=client["clientId"], clientSecret=client["clientSecret"], grantType="refresh_token", refreshToken=renewed["refreshToken"])[1] == "InvalidGrantException"
    # A client without the refresh grant cannot refresh.
    legacy, _ = device_authorization(center)
    assert refused(oidc.create_token, clientId=legacy["clientId"], clientSecret=legacy["clientSecret"], grantType="refresh_token", refreshToken=renewed["refreshToken"])[1] == "UnauthorizedClientException"
