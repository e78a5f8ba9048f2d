#!/usr/bin/env python3
"""Writes one API Gateway HTTP API (payload v2) sample event per route into events/<function>/.

Run it after adding a route; tests/e2e/contract.rs checks every route has an event and feeds
each to its handler. Ids and keys are AWS documentation examples: shapes, not data.
"""
import json
import pathlib

ACCOUNT = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
GROUP = "01BX5ZZKBKACTAV9WEVGEMMVRZ"
SESSION = "01CDE7ZZ5E4YBDTSQNWPHZ4NNA"
SSM_SESSION = f"cib-{SESSION}-07a16060613c408b5"
HERE = pathlib.Path(__file__).parent


def event(route, path, body=None, query=None, params=None, headers=None):
    method, _ = route.split(" ", 1)
    h = {
        "accept": "application/json",
        "authorization": "Bearer {{ADMIN_TOKEN}}",
        "host": "abc123.execute-api.eu-west-1.amazonaws.com",
        "user-agent": "curl/8.5.0",
        "x-forwarded-proto": "https",
    }
    if body is not None:
        h["content-type"] = "application/json"
    h.update(headers or {})
    e = {
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": h,
    }
    if query:
        e["queryStringParameters"] = query
    if params:
        e["pathParameters"] = params
    e["requestContext"] = {
        "accountId": "123456789012",
        "apiId": "abc123",
        "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
        "domainPrefix": "abc123",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10", "userAgent": "curl/8.5.0"},
        "requestId": "Xw1dPhWvjoEEMZQ=",
        "routeKey": route,
        "stage": "$default",
        "time": "22/Nov/2026:19:00:00 +0000",
        "timeEpoch": 1795374000000,
    }
    if body is not None:
        e["body"] = json.dumps(body)
    e["isBase64Encoded"] = False
    return e


acct = {"id": ACCOUNT}
user = {"id": ACCOUNT, "name": "alice@example.com"}
grp = {"id": GROUP}
member = {"id": GROUP, "email": "alice@example.com"}
A = f"/accounts/{ACCOUNT}"
G = f"/groups/{GROUP}"

EVENTS = {
    "accounts": {
        "register-account": event("POST /accounts", "/accounts", {"name": "production", "default_region": "eu-west-1", "credentials": {"type": "access_key", "access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}}),
        # The ExternalId a role registration uses is issued by the broker first (here, no body).
        "issue-external-id": event("POST /accounts/external-ids", "/accounts/external-ids"),
        "register-account-with-role": event("POST /accounts", "/accounts", {"name": "staging", "default_region": "eu-west-1", "credentials": {"type": "assume_role", "role_arn": "arn:aws:iam::210987654321:role/CloudIamBrokerAccess", "external_id": "cib-0123456789abcdef0123456789abcdef"}}),
        "list-accounts": event("GET /accounts", "/accounts", query={"limit": "10"}),
        "get-account": event("GET /accounts/{id}", A, params=acct),
        "update-account": event("PATCH /accounts/{id}", A, {"name": "prod"}, params=acct),
        "delete-account": event("DELETE /accounts/{id}", A, params=acct),
        "get-jit-settings": event("GET /accounts/{id}/jit", f"{A}/jit", params=acct),
        "get-shell-settings": event("GET /accounts/{id}/shell", f"{A}/shell", params=acct),
        "verify-evidence": event(
            "GET /accounts/{id}/evidence",
            f"{A}/evidence",
            query={"from": "2026-11-01", "to": "2026-11-24"},
            params=acct,
        ),
        "put-shell-settings": event("PUT /accounts/{id}/shell", f"{A}/shell", {'enabled': True, 'role_arn': 'arn:aws:iam::210987654321:role/BrokerShell', 'targets': {'tags': {'Environment': 'staging'}, 'instance_ids': ['i-0123456789abcdef0']}, 'run_as': {'default_user': 'ssm-user', 'users': {'alice@example.com': 'alice'}}, 'max_duration_seconds': 3600, 'idle_timeout_minutes': 20, 'recording': {'s3_bucket': 'example-session-transcripts', 's3_key_prefix': 'shell/', 's3_encryption': True, 'kms_key_id': None, 'cloudwatch_log_group': None, 'cloudwatch_streaming': False}}, params=acct),
        "put-jit-settings": event("PUT /accounts/{id}/jit", f"{A}/jit", {"active": True, "description": "on-call access", "jit_enabled": True, "max_duration_seconds": 3600, "allowed_role_arns": ["arn:aws:iam::210987654321:role/OnCall"]}, params=acct),
    },
    "users": {
        "provision-user": event("POST /accounts/{id}/users", f"{A}/users", {"email": "alice@example.com", "console_access": True, "credential": True, "policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"], "groups": ["developers"]}, params=acct, headers={"idempotency-key": "provision-alice-1"}),
        "list-users": event("GET /accounts/{id}/users", f"{A}/users", query={"limit": "20"}, params=acct),
        "import-users": event("POST /accounts/{id}/user-imports", f"{A}/user-imports", params=acct),
        "get-user": event("GET /accounts/{id}/users/{name}", f"{A}/users/alice@example.com", params=user),
        "deprovision-user": event("DELETE /accounts/{id}/users/{name}", f"{A}/users/alice@example.com", params=user),
        "rotate-credential": event("POST /accounts/{id}/users/{name}/credentials", f"{A}/users/alice@example.com/credentials", params=user),
        "release-identity": event("DELETE /identities/{email}", "/identities/alice@example.com", params={"email": "alice@example.com"}),
    },
    "groups": {
        "create-group": event("POST /groups", "/groups", {"name": "on-call", "description": "Production on-call", "accounts": [ACCOUNT], "permissions": {"start_sessions": False, "start_jit_sessions": True}}),
        "create-group-needing-approval": event("POST /groups", "/groups", {"name": "prod-admins", "accounts": [ACCOUNT], "permissions": {"start_jit_sessions": True}, "policy": {"approval": {"approvals_required": 2, "approver_group_ids": [GROUP]}, "max_duration_seconds": 3600, "break_glass": {"max_duration_seconds": 1800}}}),
        "list-groups": event("GET /groups", "/groups"),
        "get-group": event("GET /groups/{id}", G, params=grp),
        "update-group": event("PATCH /groups/{id}", G, {"permissions": {"start_sessions": True, "start_jit_sessions": True}}, params=grp),
        "delete-group": event("DELETE /groups/{id}", G, params=grp),
        "list-members": event("GET /groups/{id}/members", f"{G}/members", params=grp),
        "add-member": event("PUT /groups/{id}/members/{email}", f"{G}/members/alice@example.com", params=member),
        "remove-member": event("DELETE /groups/{id}/members/{email}", f"{G}/members/alice@example.com", params=member),
        "get-me": event("GET /me", "/me"),
    },
    "chatops": {
        # The signature is a placeholder: the contract test expects this event's 401.
        "slack-command": {**event("POST /chatops/slack/commands", "/chatops/slack/commands", headers={"content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": "1795374000", "x-slack-signature": "v0=0000"}), "body": "token=x&team_id=T0001&user_id=U024BE7LH&command=%2Fjit&text=list"},
        # Also a placeholder signature: a button click on an approval message.
        "slack-interaction": {**event("POST /chatops/slack/interactions", "/chatops/slack/interactions", headers={"content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": "1795374000", "x-slack-signature": "v0=0000"}), "body": "payload=%7B%22type%22%3A%22block_actions%22%7D"},
        "list-slack-links": event("GET /chatops/slack/users", "/chatops/slack/users"),
        "link-slack-user": event("PUT /chatops/slack/users/{slack_user_id}", "/chatops/slack/users/U024BE7LH", {"email": "alice@example.com"}, params={"slack_user_id": "U024BE7LH"}),
        "unlink-slack-user": event("DELETE /chatops/slack/users/{slack_user_id}", "/chatops/slack/users/U024BE7LH", params={"slack_user_id": "U024BE7LH"}),
        # The linked user's own confirmation: as the admin, whom the sample link does not name, 403 (404 before it).
        "confirm-slack-link": event("POST /chatops/slack/users/{slack_user_id}/confirmation", "/chatops/slack/users/U024BE7LH/confirmation", params={"slack_user_id": "U024BE7LH"}),
    },
    "sessions": {
        "start-jit-session": event("POST /sessions", "/sessions", {"account_id": ACCOUNT, "type": "jit", "role_arn": "arn:aws:iam::210987654321:role/OnCall", "duration_seconds": 3600, "reason": "INC-1234: database failover"}, headers={"idempotency-key": "inc-1234-start"}),
        "start-console-session": event("POST /sessions", "/sessions", {"account_id": ACCOUNT, "type": "console", "duration_seconds": 1800, "reason": "review the billing dashboard"}),
        "list-sessions": event("GET /sessions", "/sessions", query={"status": "active", "limit": "20"}),
        "get-session": event("GET /sessions/{id}", f"/sessions/{SESSION}", params={"id": SESSION}),
        "end-session": event("DELETE /sessions/{id}", f"/sessions/{SESSION}", {"reason": "incident resolved"}, params={"id": SESSION}),
        "get-session-log": event("GET /sessions/{id}/log", f"/sessions/{SESSION}/log", params={"id": SESSION}),
        "get-session-activity": event("GET /sessions/{id}/activity", f"/sessions/{SESSION}/activity", query={"limit": "50"}, params={"id": SESSION}),
        "start-shell-session": event("POST /sessions", "/sessions", {'account_id': ACCOUNT, 'type': 'shell', 'target': 'i-0123456789abcdef0', 'duration_seconds': 3600, 'reason': 'INC-1234: restart the stuck worker'}, headers={"idempotency-key": "inc-1234-shell"}),
        "get-transcript": event("GET /sessions/{id}/transcripts/{ssm_session_id}", f"/sessions/{SESSION}/transcripts/{SSM_SESSION}", params={"id": SESSION, "ssm_session_id": SSM_SESSION}),
        "start-identity-center-session": event("POST /sessions", "/sessions", {"account_id": ACCOUNT, "type": "identity_center", "permission_set_arn": "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef", "duration_seconds": 3600, "reason": "INC-1400: read the production logs"}),
        "start-break-glass-session": event("POST /sessions", "/sessions", {"account_id": ACCOUNT, "type": "jit", "role_arn": "arn:aws:iam::210987654321:role/OnCall", "duration_seconds": 1800, "reason": "INC-1300: production is down", "break_glass": True}),
        "approve-request": event("POST /sessions/{id}/approvals", f"/sessions/{SESSION}/approvals", {"reason": "matches INC-1234"}, params={"id": SESSION}),
        "deny-request": event("POST /sessions/{id}/denials", f"/sessions/{SESSION}/denials", {"reason": "not during the change freeze"}, params={"id": SESSION}),
        "cancel-request": event("POST /sessions/{id}/cancel", f"/sessions/{SESSION}/cancel", {"reason": "no longer needed"}, params={"id": SESSION}),
        "extend-session": event("POST /sessions/{id}/extensions", f"/sessions/{SESSION}/extensions", {"duration_seconds": 1800, "reason": "the failover takes longer"}, params={"id": SESSION}, headers={"idempotency-key": "inc-1234-extend-1"}),
        "review-session": event("POST /sessions/{id}/review", f"/sessions/{SESSION}/review", {"note": "checked CloudTrail: only the API restart"}, params={"id": SESSION}),
        "list-requests": event("GET /requests", "/requests", query={"limit": "20"}),
        "list-reviews": event("GET /reviews", "/reviews"),
        "list-shell-targets": event("GET /accounts/{id}/shell/targets", f"/accounts/{ACCOUNT}/shell/targets", params={"id": ACCOUNT}),
    },
}

if __name__ == "__main__":
    for function, events in EVENTS.items():
        folder = HERE / function
        folder.mkdir(exist_ok=True)
        for name, e in events.items():
            (folder / f"{name}.json").write_text(json.dumps(e, indent=2) + "\n")
