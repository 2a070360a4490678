"""The Twilio REST credentials of the scheduled reconcile (template: TwilioApiSecret), read through Powertools
parameters: {"account_sid", "api_key", "api_secret"} (an API key, preferred) or {"account_sid", "auth_token"}, as
`make connect` takes them from the environment. Read afresh by each run (one read every ReconcileSchedule): a key
put in, or rotated, counts from the next run, never after a cache's lifetime."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities import parameters

from voice_insights.aws.clients import make_client


class TwilioCredentialsUnavailable(RuntimeError):
    """The secret cannot be read or holds no usable credentials: the run cannot call Twilio (it fails, alarmed)."""


@dataclass(frozen=True)
class TwilioApiCredentials:
    account_sid: str
    username: str  # the API key's SID, or the account SID with an auth token
    password: str = ""  # never logged (repr=False below)

    def __repr__(self) -> str:
        return f"TwilioApiCredentials(account_sid={self.account_sid!r}, username={self.username!r})"

    @classmethod
    def from_secret(cls, value: Any) -> TwilioApiCredentials:
        if not isinstance(value, dict):
            raise TwilioCredentialsUnavailable("the Twilio API secret is not a JSON object")
        account = str(value.get("account_sid") or "")
        if not account:
            raise TwilioCredentialsUnavailable("the Twilio API secret has no account_sid yet (docs/backfill.md)")
        if value.get("api_key"):
            if not value.get("api_secret"):
                raise TwilioCredentialsUnavailable("the Twilio API secret has api_key but no api_secret")
            return cls(account, str(value["api_key"]), str(value["api_secret"]))
        if value.get("auth_token"):
            return cls(account, account, str(value["auth_token"]))
        raise TwilioCredentialsUnavailable("the Twilio API secret needs api_key + api_secret, or auth_token")


class TwilioApiSecret:
    def __init__(self, secret_id: str) -> None:
        self.secret_id = secret_id
        self._secrets: parameters.SecretsProvider | None = None

    def get(self) -> TwilioApiCredentials:
        try:
            if self._secrets is None:
                self._secrets = parameters.SecretsProvider(boto3_client=make_client("secretsmanager"))
            value = self._secrets.get(self.secret_id, transform="json", force_fetch=True)
        except Exception as error:  # any failure to read means: no run; the message names the kind, never a value
            raise TwilioCredentialsUnavailable(
                f"the Twilio API secret cannot be read: {type(error).__name__}"
            ) from None
        return TwilioApiCredentials.from_secret(value)
