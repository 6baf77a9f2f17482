"""The web console (contract section 14): a Starlette app of server-rendered pages
(Jinja2, autoescaped; usable without JavaScript) for the people who run the notifier:
what was sent to whom and why, what failed, who followed up, what is muted, and the
same actions as Slack, through `notifier.actions` (source "console").

`app.py` serves it on `NOTIFIER_CONSOLE_ADDR`, a listener of its own; `routing.py`
guards every page (session, CSRF, role) and adds the security headers; `auth.py`
signs people in and out (sessions in the store); one module per page (`pages_*.py`).
"""
