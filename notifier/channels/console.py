"""Console: one line per alert on standard output."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class ConsoleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["console"]

    def missing_settings(self, settings) -> list[str]:  # type: ignore[no-untyped-def]
        return []
