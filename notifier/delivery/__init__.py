"""Delivery: draining the outbox (deliverer), planning when rows go out (policy: grouping,
digests, quiet hours, throttle), and turning matches into text (render, templates, text).

May import events, channels' base types, state's interface and obs; never rules' loader,
the Testpress client, commands, server or sandbox.
"""
