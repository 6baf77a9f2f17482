"""Each test helper is written once (issue 18, part 8): a helper two test files need
lives in one shared place (tests/conftest.py, tests/e2e.py, tests/loopback.py,
tests/waiting.py, ...), and no test file defines again a function another test file
defines. This check keeps that so: it fails naming both places when two files hold a
function (or a method) with the same name and the same body, or the same body of two
statements or more under another name (a fixture copied and renamed)."""

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


def _body(function: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.Module:
    """The function's body without its docstring, as the parser sees it: comments,
    blank lines and formatting do not count, so a copy with a new comment is a copy."""
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return ast.Module(body=body, type_ignores=[])


def _statements(body: ast.Module) -> int:
    return sum(isinstance(node, ast.stmt) for node in ast.walk(body))


def repeated_helpers(sources: dict[str, str]) -> list[str]:
    """`name: file, file` for each function that two or more of `sources` (file name to
    source text) define with the same body: under the same name, or under other names
    (`a.py:one, b.py:other`) when the body has two statements or more (one `pass` or
    `return x` is not a helper)."""
    places: dict[str, list[tuple[str, str]]] = defaultdict(list)
    size: dict[str, int] = {}
    for name, text in sorted(sources.items()):
        for function_name, function in _functions(ast.parse(text, name)):
            body = _body(function)
            shape = ast.dump(body)
            places[shape].append((name, function_name))
            size[shape] = _statements(body)
    found = []
    for shape, where in places.items():
        by_name: dict[str, set[str]] = defaultdict(set)
        for file, function_name in where:
            by_name[function_name].add(file)
        for function_name, files in by_name.items():
            if len(files) > 1:
                found.append(f"{function_name}: {', '.join(sorted(files))}")
        if len({file for file, _ in where}) > 1 and len(by_name) > 1 and size[shape] >= 2:
            found.append(", ".join(f"{file}:{function_name}" for file, function_name in where))
    return sorted(found)


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
    renamed = helper.replace("def _status(", "def _report(")
    assert repeated_helpers({"a.py": helper, "b.py": renamed}) == ["a.py:_status, b.py:_report"]
    trivial = "def close(self):\n    pass\n", "def log_message(self):\n    pass\n"
    assert repeated_helpers({"a.py": trivial[0], "b.py": trivial[1]}) == []
