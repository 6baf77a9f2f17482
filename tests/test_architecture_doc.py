"""docs/architecture.md stays true to the code (issue 18 part 7): its table names every
module under `notifier/` in its folder's row, every module path it names exists, and the
layers and forbidden contracts it states are the ones `pyproject.toml` has."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "notifier"
DOC = ROOT / "docs" / "architecture.md"
TABLE_HEADING = "## Folders and modules"
LAYERS_HEADING = "## The layers and the forbidden contracts"
REPO_DIRS = ("tests/", "tools/", "bench/", "docs/")

# A module path as the page writes it: `runtime/compose.py`, `delivery/stages.py`,
# `cli.py`, `tests/inprocess.py` (a `*` globs).
_MODULE = re.compile(r"(?<![\w/.*-])((?:[A-Za-z_][\w]*/)*[A-Za-z_*][\w*]*\.py)(?![\w])")
_ROW = re.compile(r"^\|\s*(.+?)\s*\|\s*(.+?)\s*\|\s*$", re.M)
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end != -1 else len(text)]


def _rows() -> dict[str, str]:
    """The folder/module table: each name of a row's first cell -> the row's text."""
    rows: dict[str, str] = {}
    for first, rest in _ROW.findall(_section(_doc(), TABLE_HEADING)):
        if set(first) <= {"-", " "} or first.startswith("folder"):
            continue
        for name in re.findall(r"`([^`]+)`", first):
            rows[name] = rest
    return rows


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")


def _exists(token: str, folder: str = "") -> bool:
    """Whether a module path the page names is a file: relative to the repository for
    tests/, tools/, bench/ and docs/, to `notifier/` otherwise, and a bare name to the
    folder of the table row it is in (or the package's top level)."""
    if token.startswith("notifier/"):
        token = token.removeprefix("notifier/")
    if token.startswith(REPO_DIRS):
        base = ROOT
    elif "/" in token:
        base = PACKAGE
    else:
        base = PACKAGE / folder
    return any(p.is_file() for p in base.glob(token))


def test_every_module_is_named_in_its_folders_row() -> None:
    rows = _rows()
    missing = []
    for path in _modules():
        rel = path.relative_to(PACKAGE)
        if len(rel.parts) == 1:
            named = path.name in rows
        else:
            row = rows.get(rel.parent.as_posix() + "/", "")
            named = f"`{path.name}`" in row
        if not named:
            missing.append(rel.as_posix())
    assert missing == [], f"modules missing from the table of {DOC.name}: {missing}"


def test_every_folder_has_a_row() -> None:
    folders = sorted(
        p.relative_to(PACKAGE).as_posix() + "/"
        for p in PACKAGE.rglob("*")
        if p.is_dir() and any(p.glob("*.py"))
    )
    rows = _rows()
    assert [f for f in folders if f not in rows] == []


def test_the_tables_rows_name_what_exists() -> None:
    gone = []
    for first, text in _rows().items():
        if first.endswith("/"):
            if not (PACKAGE / first).is_dir():
                gone.append(first)
            gone += [f"{first}{m}" for m in _MODULE.findall(text) if not _exists(m, first)]
        else:
            if not (PACKAGE / first).is_file():
                gone.append(first)
            gone += [m for m in _MODULE.findall(text) if not _exists(m)]
    assert gone == [], f"{DOC.name}'s table names modules that do not exist: {gone}"


def test_every_module_path_the_page_names_exists() -> None:
    text = _doc()
    table = _section(text, TABLE_HEADING)
    elsewhere = text.replace(table, "")  # the table's bare names are its folders'
    gone = sorted({m for m in _MODULE.findall(elsewhere) if not _exists(m)})
    assert gone == [], f"{DOC.name} names modules that do not exist: {gone}"


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def test_the_layers_are_stated_as_pyproject_has_them() -> None:
    (layers,) = [c for c in _contracts() if c["type"] == "layers"]
    section = _section(_doc(), LAYERS_HEADING)
    blocks = [[line.strip() for line in b.strip().splitlines()] for b in _FENCE.findall(section)]
    assert blocks, f"{DOC.name} states no layers block"
    assert blocks[0] == layers["layers"]


def test_every_forbidden_contract_is_stated_by_its_name() -> None:
    section = " ".join(_section(_doc(), LAYERS_HEADING).split())
    names = [str(c["name"]) for c in _contracts() if c["type"] == "forbidden"]
    assert names
    assert [n for n in names if f"**{n}**" not in section] == []


def test_the_checks_find_what_is_missing() -> None:
    """The checks above are not vacuous: a module the table leaves out, or a path that
    is not there, is found."""
    assert _exists("delivery/stages.py") and _exists("stages.py", "delivery/")
    assert not _exists("delivery/policy.py") and not _exists("policy.py", "delivery/")
    assert _exists("tests/inprocess.py") and not _exists("tests/nothing_here.py")
    assert _MODULE.findall("`runtime/compose.py` and `cli.py`, not pyproject.toml") == [
        "runtime/compose.py",
        "cli.py",
    ]
    rows = _rows()
    assert "`stages.py`" in rows["delivery/"] and "`policy.py`" not in rows["delivery/"]
