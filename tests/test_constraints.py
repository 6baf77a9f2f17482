"""constraints.txt pins what the image installs: every runtime dependency of
pyproject.toml must be in it, at a release that satisfies pyproject's range. (The image
build installs only what the file pins, then `pip check`s; this says so sooner.)"""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            found[canonicalize_name(name)] = version
    return found


def test_every_runtime_dependency_is_pinned_within_its_range() -> None:
    pinned = pins()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wrong = []
    for spec in project["dependencies"]:
        req = Requirement(spec)
        version = pinned.get(canonicalize_name(req.name))
        if version is None or not req.specifier.contains(version, prereleases=True):
            wrong.append(f"{spec}: constraints.txt has {version}")
    assert wrong == [], "run `make constraints`: " + "; ".join(wrong)
