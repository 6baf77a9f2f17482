"""testpress-notifier: watches a Testpress institute and alerts admins when a rule matches."""

__version__ = "0.1.0"
