"""The Testpress admin API: `client` (HTTP: auth, paging, retries), `models` (tolerant
typed records) and `parse` (the value coercions the models use)."""
