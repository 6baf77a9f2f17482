"""What the browser tests share: Playwright and the system's Chromium, or a clear
verdict when either is missing (a skip outside CI; under `CI=true` a failure, since a
skip there would hide a broken install), and signing in."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

from tests.console_kit import PASSWORD


def require_browser() -> tuple[Any, str]:
    """`playwright.sync_api` and Chromium's path; called at a test module's top, it
    skips (or, in CI, fails) the module when either is missing."""
    try:
        from playwright import sync_api
    except ImportError:
        sync_api = None
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    missing = (
        "no Playwright (`make test-browser` installs it)"
        if sync_api is None
        else "no Chromium (apt-get install chromium)"
        if chromium is None
        else None
    )
    if missing is not None or chromium is None:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"the browser tests cannot run in CI: {missing}", pytrace=False)
        pytest.skip(str(missing), allow_module_level=True)
    return sync_api, chromium


def sign_in(page: Any, url: str, name: str) -> None:
    page.goto(url + "/")
    assert "/login" in page.url
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
