"""Observability: logging set-up and secret redaction (logs), and later metrics.

Imports only the standard library and well-kept exporters; every layer may import it.
"""
