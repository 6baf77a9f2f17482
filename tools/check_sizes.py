"""Fail when a module or class outgrows the sizes docs/architecture.md sets.

Modules past about 400 lines and classes past about 15 methods are where a god class
starts (ElastAlert's `ElastAlerter`): split them by responsibility before they grow.
Counts every line of a module; a class's methods are the functions in its own body.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_MODULE_LINES = 420
MAX_CLASS_METHODS = 15


def problems(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.count("\n")
        if lines > MAX_MODULE_LINES:
            found.append(f"{path}: {lines} lines (at most {MAX_MODULE_LINES}); split it")
        for node in ast.walk(ast.parse(source, str(path))):
            if isinstance(node, ast.ClassDef):
                methods = [
                    item
                    for item in node.body
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                ]
                if len(methods) > MAX_CLASS_METHODS:
                    found.append(
                        f"{path}:{node.lineno}: class {node.name} has {len(methods)} methods "
                        f"(at most {MAX_CLASS_METHODS}); split it by concern"
                    )
    return found


def main() -> int:
    found = problems(Path(sys.argv[1] if len(sys.argv) > 1 else "notifier"))
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
