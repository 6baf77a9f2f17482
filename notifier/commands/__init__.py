"""What a command does beyond wiring: demo, preview, rule tests, the JSON Schema.

Only cli.py imports these; they may import anything in notifier/ below them.
"""
