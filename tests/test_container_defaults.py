"""The container path as docs/container.md writes it (issue 23 part 5): the image's default
rules need no channel settings, notifier.env.example holds every setting with its
secrets empty, the env files stay out of git, and compose.yaml and the docs mount the
rules as a folder, publish the port and say who owns /data. `make container-test`
runs the image itself; these check what it is built and started from."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dotenv import dotenv_values

from notifier.settings import Settings
from tests.e2e import clean_env

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "notifier.env.example"
SECRETS = {
    "TESTPRESS_TOKEN",
    "TESTPRESS_PASSWORD",
    "TESTPRESS_WEBHOOK_PRIVATE_KEY",
    "SLACK_BOT_TOKEN",
    "SMTP_PASSWORD",
    "LMS_WEBHOOK_SECRET",
}


def _image_env() -> dict[str, str]:
    """The ENV the Dockerfile's final stage sets."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(dict(re.findall(r"(\w+)=(\S+)", line)))
    return env


def _check(rules: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    """`notifier check` with only the env example's settings, as the image would run it."""
    values = {k: v for k, v in dotenv_values(EXAMPLE).items() if v is not None}
    env = {**clean_env(), **values, "NOTIFIER_RULES": str(rules)}
    return subprocess.run(
        [sys.executable, "-m", "notifier", "check"],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_the_images_default_rules_are_console_only_and_pass_check_with_the_example(
    tmp_path: Path,
) -> None:
    rules_path = _image_env()["NOTIFIER_RULES"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"COPY container/rules.yaml {rules_path}\n" in dockerfile
    default = yaml.safe_load((ROOT / "container/rules.yaml").read_text())
    assert {ch["type"] for ch in default["channels"].values()} == {"console"}
    done = _check(ROOT / "container/rules.yaml", tmp_path)
    assert done.returncode == 0, done.stderr
    assert ": OK, " in done.stdout and "1 channel" in done.stdout
    # What the image shipped before: the repository's rules need Slack and SMTP
    # settings that a first `docker run` does not give, so it exited 2 and restarted.
    shipped = _check(ROOT / "rules.yaml", tmp_path)
    assert shipped.returncode == 2 and "SLACK_BOT_TOKEN" in shipped.stderr


def _example_lines() -> dict[str, str]:
    """VAR -> value for every `VAR=value` line of the example, commented out or not."""
    found = {}
    for line in EXAMPLE.read_text().splitlines():
        match = re.fullmatch(r"#?\s*([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            found[match.group(1)] = match.group(2)
    return found


def test_the_env_example_names_every_setting_and_leaves_the_secrets_empty() -> None:
    named = _example_lines()
    settings = {str(f.validation_alias.choices[0]) for f in Settings.model_fields.values()}  # type: ignore[union-attr]
    assert settings - named.keys() == set()
    rules = [ln for ln in (ROOT / "rules.yaml").read_text().splitlines() if ln.strip()[:1] != "#"]
    used_by_rules = set(re.findall(r"\$\{([A-Z0-9_]+)", "\n".join(rules)))
    assert used_by_rules - named.keys() == set()
    assert {k: v for k, v in named.items() if k in SECRETS and v} == {}
    assert (EXAMPLE.parent / "compose.yaml").is_file()  # beside compose.yaml
    set_now = {k for k, v in dotenv_values(EXAMPLE).items() if v}
    assert set_now == {"TESTPRESS_BASE_URL"}  # the rest is the admin's to fill in


def test_git_ignores_the_env_files_but_not_the_example() -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")

    def ignored(name: str) -> bool:
        done = subprocess.run(["git", "check-ignore", "-q", "--no-index", name], cwd=ROOT)
        assert done.returncode in (0, 1), f"git check-ignore failed for {name}"
        return done.returncode == 0

    assert ignored(".env") and ignored("notifier.env")
    assert not ignored("notifier.env.example")


def test_compose_mounts_the_rules_folder_publishes_the_port_and_reads_notifier_env() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    notifier = compose["services"]["notifier"]
    rules_dir = str(Path(_image_env()["NOTIFIER_RULES"]).parent)
    mounts = [m for m in notifier["volumes"] if isinstance(m, dict)]
    (rules,) = [m for m in mounts if m["target"] == rules_dir]
    assert rules["type"] == "bind" and rules["read_only"] is True
    assert not rules["source"].endswith((".yaml", ".yml"))  # a folder, not the file
    assert rules["bind"]["create_host_path"] is False
    assert "127.0.0.1:8080:8080" in notifier["ports"]
    assert notifier["env_file"] == "notifier.env"


def _docs_section(page: str, title: str) -> str:
    text = (ROOT / "docs" / page).read_text()
    return text.split(f"# {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_readmes_docker_run_mounts_a_folder_publishes_the_port_and_owns_data() -> None:
    section = _docs_section("container.md", "Running it as a container")
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    lines = [" ".join(line.split()) for b in blocks for line in b.replace("\\\n", " ").splitlines()]
    runs = [line.split("#")[0] for line in lines if line.startswith("docker run")]
    assert runs
    rules_dir = str(Path(_image_env()["NOTIFIER_RULES"]).parent)
    for run in runs:
        for source, target in re.findall(r"-v \"?([^\s:\"]+)\"?:([^\s:]+)", run):
            if target.startswith("/etc/notifier"):
                assert target == rules_dir and not source.endswith(".yaml"), run
        assert "--env-file notifier.env" in run, run  # no token on the command line
        if "docker run -d " in run:  # the service, not a one-off `--rm` command
            assert "-p 127.0.0.1:8080:8080" in run, run
    assert any("/etc/notifier" in run for run in runs)  # it shows how to mount your rules
    assert "USER 10001:10001" in (ROOT / "Dockerfile").read_text()
    assert "chown 10001:10001" in section  # a host folder for /data
    assert "inode" in section  # why a folder and not the file
    assert "notifier backup" in section
