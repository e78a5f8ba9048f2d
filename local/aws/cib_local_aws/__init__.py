"""Cloud IAM Broker's local AWS: moto, patched to behave like AWS where the broker relies on it.

Each module owns one concern and exposes `apply()`; importing has no side effects. `apply_all`
applies them in the order they depend on one another (launch.py calls it before starting
moto's server):
- missing_role: AssumeRole into a role that does not exist is refused;
- dynamodb_transactions: TransactWriteItems backs up only what it touches;
- sts_sessions: role sessions keep SourceIdentity, session tags, issue time (and chaining);
- principals: who signed a request, its policies and context keys; ExpiredToken;
- enforcement: every signed request is authorized by policy_eval (pure IAM evaluation, with
  policy_conditions for the condition operators), refusals shaped by errors;
- policy_limits: IAM's policy size quotas.
"""

from . import dynamodb_transactions, enforcement, missing_role, policy_limits, principals, sts_sessions

PATCHES = (missing_role, dynamodb_transactions, sts_sessions, principals, enforcement, policy_limits)


def apply_all() -> None:
    for patch in PATCHES:
        patch.apply()
