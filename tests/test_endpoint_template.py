"""The `endpoint` label of `notifier_testpress_requests_total`: ids and query strings
never become label values (a bounded series count), whatever path the client names.
The one-regex reading must agree with reading the path as urlsplit does, segment by
segment (the reference below), for any text: a `next` link can carry anything."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from hypothesis import example, given
from hypothesis import strategies as st

from notifier.obs.metrics import Metrics, endpoint_template

WORD = re.compile(r"^(?:[A-Za-z][A-Za-z_-]*|v\d+(?:\.\d+)*)$")


def reference(path: str) -> str:
    segments = (urlsplit(path).path or "/").split("/")
    return "/".join(s if not s or WORD.match(s) else "{id}" for s in segments)


@given(st.text(alphabet=st.sampled_from("/av9._-Z%?#: \t\x00é"), max_size=40))
@example("/api/v2.5/admin/attempts/68701/?page=2")
@example("//host/x/1")
@example("x:/a/1")
def test_the_template_reads_a_path_as_urlsplit_does(path: str) -> None:
    assert endpoint_template(path) == reference(path)


def test_each_request_is_counted_under_its_template() -> None:
    metrics = Metrics()
    for attempt in (1, 2, 3):
        metrics.testpress_request(f"/api/v2.5/admin/attempts/{attempt}/", 200)
    metrics.testpress_request("/api/v2.5/admin/attempts/4/", 503)
    sample = metrics.registry.get_sample_value
    name = "notifier_testpress_requests_total"
    template = "/api/v2.5/admin/attempts/{id}/"
    assert sample(name, {"endpoint": template, "status": "200"}) == 3
    assert sample(name, {"endpoint": template, "status": "503"}) == 1
    assert endpoint_template("/api/v2.5/admin/attempts/68701/?page=2") == template
