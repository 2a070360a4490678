"""Configuration, read once from the environment the template sets."""

from __future__ import annotations

import os
from dataclasses import dataclass


class ConfigurationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Settings:
    table_name: str
    rejected_bucket: str
    retention_days: int = 0

    @classmethod
    def from_env(cls) -> Settings:
        try:
            return cls(
                table_name=os.environ["SUMMARIES_TABLE_NAME"],
                rejected_bucket=os.environ["REJECTED_BUCKET_NAME"],
                retention_days=int(os.environ.get("RETENTION_DAYS", "0") or 0),
            )
        except KeyError as missing:
            raise ConfigurationError(f"environment variable {missing} is not set (see template.yaml)") from None
