"""Each test helper is written once (issue 18, part 8): a helper two test files need
lives in one shared place (tests/conftest.py, tests/e2e.py, tests/loopback.py,
tests/waiting.py, ...), and no test file defines again, under the same name, a
function another test file defines. This check keeps that so: it fails naming both
places when two files hold a function (or a method of a class of the same name) with
the same name and the same body."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _functions(tree: ast.Module) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """The module's functions and its classes' methods (as `Class.method`)."""
    found: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.append((node.name, node))
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    found.append((f"{node.name}.{item.name}", item))
    return found


def _shape(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The function's signature and body as the parser sees them: comments, blank lines,
    formatting and the docstring do not count, so a copy with a new comment is a copy."""
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return ast.dump(function.args) + ast.dump(ast.Module(body=body, type_ignores=[]))


def repeated_helpers(sources: dict[str, str]) -> list[str]:
    """`name: file, file` for each function that two or more of `sources` (file name to
    source text) define with the same name and the same body."""
    places: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, text in sorted(sources.items()):
        for function_name, function in _functions(ast.parse(text, name)):
            places[(function_name, _shape(function))].append(name)
    return sorted(
        f"{function_name}: {', '.join(files)}"
        for (function_name, _), files in places.items()
        if len(set(files)) > 1
    )


def test_no_two_test_files_define_the_same_helper() -> None:
    sources = {str(p.relative_to(TESTS)): p.read_text() for p in sorted(TESTS.rglob("*.py"))}
    assert repeated_helpers(sources) == []


def test_the_check_finds_a_copied_helper_and_lets_a_different_one_be() -> None:
    helper = '''
def _status(h):
    """One docstring."""
    out = h.notifier("status", "--json")
    return json.loads(out.stdout)
'''
    copied = helper.replace("One docstring.", "Another docstring.") + "# a comment\n"
    different = helper.replace('"--json"', '"--text"')
    method = "class Rig:\n    def cycle(self):\n        return self.app.cycle()\n"
    assert repeated_helpers({"a.py": helper, "b.py": copied, "c.py": different}) == [
        "_status: a.py, b.py"
    ]
    assert repeated_helpers({"a.py": method, "b.py": method}) == ["Rig.cycle: a.py, b.py"]
    assert repeated_helpers({"a.py": helper, "b.py": different}) == []
