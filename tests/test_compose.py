"""compose.yaml and the sample Prometheus set-up (docs/service.md: Running it as a service) fit
the image and the metrics the notifier really exports, so copying them works."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from notifier.obs.metrics import Metrics

ROOT = Path(__file__).resolve().parent.parent


def test_compose_runs_the_image_with_a_volume_env_file_health_check_and_restart() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    notifier = compose["services"]["notifier"]
    assert notifier["restart"] == "unless-stopped"
    assert notifier["env_file"] == "notifier.env"
    volume, target = notifier["volumes"][0].split(":")[:2]
    assert target == "/data" and volume in compose["volumes"]  # a named volume
    assert notifier["environment"]["NOTIFIER_HTTP_ADDR"] == "0.0.0.0:8080"
    script = notifier["healthcheck"]["test"][-1]
    assert script in (ROOT / "Dockerfile").read_text()  # the image's own health check
    prometheus = compose["services"]["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]  # optional
    for mount in prometheus["volumes"]:
        source = mount.split(":")[0]
        if source.startswith("./"):
            assert (ROOT / source).is_file(), source
    config = yaml.safe_load((ROOT / "deploy/prometheus.yml").read_text())
    assert config["scrape_configs"][0]["static_configs"][0]["targets"] == ["notifier:8080"]


def test_the_sample_alerts_use_only_metrics_the_notifier_exports() -> None:
    exported = {
        sample.name for family in Metrics().registry.collect() for sample in family.samples
    } | {family.name for family in Metrics().registry.collect()}
    alerts = (ROOT / "deploy/prometheus-alerts.yaml").read_text()
    readme = (ROOT / "docs/service.md").read_text()
    used = set(re.findall(r"\bnotifier_[a-z_]+\b", alerts))
    assert used == {
        "notifier_source_last_success_timestamp_seconds",
        "notifier_outbox_rows",
    }
    assert "notifier_outbox_rows" in exported
    # A labelled gauge has no sample until it is set: its family is registered all the same.
    assert "notifier_source_last_success_timestamp_seconds" in exported
    for rule in yaml.safe_load(alerts)["groups"][0]["rules"]:
        assert " ".join(rule["expr"].split()) in " ".join(readme.split())  # the docs show it
