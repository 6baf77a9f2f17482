"""Webhook: POST the contract's JSON body, signed with Standard Webhooks headers when a
secret is given."""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator


class WebhookConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["webhook"]
    url: str
    secret: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        raw = value.get_secret_value()
        body = raw.removeprefix("whsec_")
        try:
            base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("must be a Standard Webhooks secret: whsec_ and base64") from None
        return value

    def missing_settings(self, settings) -> list[str]:  # type: ignore[no-untyped-def]
        return []
