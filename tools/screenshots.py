"""`make screenshots`: a PNG of each console page, for docs/console.md, taken in Debian's
Chromium (Playwright) from the in-process notifier polling the sandbox institute: a
few students fail exams, one delivery dies, one mute is made, then each page is
opened signed in as an admin and saved in docs/images/console-<page>.png; then the rules
editor with a typo, a draft's preview and the versions (the rules kept in the store)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from notifier.console.passwords import hash_password  # noqa: E402
from tests.inprocess import CHANNELS, rig  # noqa: E402

RULES = """
rules:
  - name: failed-exam
    event: attempt.completed
    when:
      result: Fail
    notify: [hook, slack]
  - name: low-score
    event: attempt.completed
    when:
      percentage: {lt: 40}
    notify: [hook]
"""
PASSWORD = "screenshots only"
OUT = ROOT / "docs" / "images"


def main() -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("screenshots: no Chromium (apt-get install chromium)", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as tmp,
        rig(
            Path(tmp),
            RULES,
            NOTIFIER_CONSOLE_ADDR="127.0.0.1:0",
            NOTIFIER_TIMEZONE="Asia/Kolkata",
            NOTIFIER_RULES_IN_STORE="true",
            NOTIFIER_RULES=str(Path(tmp) / "rules.yaml"),
        ) as r,
    ):
        text = CHANNELS.replace("${HOOK_URL}", r.webhook.url) + RULES
        r.store.rules.add(text, author="ann", note="imported from rules.yaml", at=r.clock())
        r.app.reload_rules_if_changed()
        r.cycle()
        inst = r.sandbox.institute
        exams = [inst.add_exam(title=t) for t in ("Algebra Mock 3", "Organic Chemistry")]
        names = ("Asha Verma", "Ravi Kumar", "Meena Iyer", "Arjun Nair", "Divya Rao")
        users = [
            inst.add_user(name=n, email=f"{n.split()[0].lower()}@school.example") for n in names
        ]
        for i, user in enumerate(users):
            inst.complete_attempt(inst.start_attempt(exams[i % 2], user), result="Fail", score=3.0)
        r.webhook.script([200, 200, 410])
        r.cycle()
        assert r.actions is not None and r.console_url
        r.actions.mute(
            student=None, rule="low-score", channel=None, duration=timedelta(days=7),
            by="ann", reason="exam week", source="console",
        )  # fmt: skip
        r.store.users.add("ann", "admin", hash_password(PASSWORD), r.clock())
        alert = r.store.log.delivery_list(rule="failed-exam", limit=1)[0]["id"]
        pages = {
            "overview": "/",
            "alerts": "/alerts",
            "alert": f"/alerts/{alert}",
            "students": "/students?q=a",
            "student": f"/students/{users[0]}",
            "mutes": "/mutes",
            "rules": "/rules",
            "audit": "/audit",
            "users": "/users",
        }
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(r.console_url + "/login")
            page.screenshot(path=str(OUT / "console-login.png"))
            page.fill("input[name=name]", "ann")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(r.console_url + "/")
            for name, path in pages.items():
                page.goto(r.console_url + path)
                page.screenshot(path=str(OUT / f"console-{name}.png"), full_page=True)
                print(f"docs/images/console-{name}.png")
            _rules_pages(page, r.console_url)
            browser.close()
    return 0


def _rules_pages(page: Any, url: str) -> None:
    """The rules editor with a typo at its line, a draft's preview, the versions."""
    page.goto(url + "/rules/edit")
    good = page.input_value("#draft")
    page.fill("#draft", good.replace("result: Fail", "reslt: Fail"))
    page.locator("#problems li.problem").wait_for()
    page.screenshot(path=str(OUT / "console-rules-edit.png"), full_page=True)
    draft = good.replace("lt: 40", "lt: 50")
    page.fill("#draft", draft)
    page.locator("#problems p.ok").wait_for()
    page.click("button:has-text('Preview 7 days')")
    page.locator("table.preview").wait_for()
    page.screenshot(path=str(OUT / "console-rules-preview.png"), full_page=True)
    page.fill("input[name=note]", "low-score: below 50 for the exam week")
    page.click("button:has-text('Save as a new version')")
    page.locator("p.ok:has-text('Saved as version 2')").wait_for()
    page.goto(url + "/rules/versions")
    page.screenshot(path=str(OUT / "console-rules-versions.png"), full_page=True)
    page.goto(url + "/rules/edit")  # completion from the JSON Schema, under the cursor
    page.focus("#draft")
    page.keyboard.press("Control+End")
    page.keyboard.type("  - name: good-score\n    event: attempt.completed\n    when:\n      p")
    page.locator("#completions li").first.wait_for()
    page.screenshot(path=str(OUT / "console-rules-complete.png"), full_page=True)
    for name in ("rules-edit", "rules-preview", "rules-versions", "rules-complete"):
        print(f"docs/images/console-{name}.png")


if __name__ == "__main__":
    raise SystemExit(main())
