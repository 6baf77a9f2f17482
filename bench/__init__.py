"""`make bench`: the notifier measured against the sandbox institute (issue 6)."""
