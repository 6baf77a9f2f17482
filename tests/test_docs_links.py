"""The README is the front page and the reference lives in docs/ (issue 18 part 7): every
relative link in README.md and docs/*.md reaches a file that exists and, when it names an
anchor, a heading of that file as GitHub spells its anchors; every docs page is linked from
the README, and the README stays short enough to be a front page."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)


def _prose(text: str) -> str:
    """The text without fenced blocks and code spans: a `# comment` in a YAML block is
    not a heading, and `[x](y)` inside backticks is not a link."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (letters, digits,
    `_`, `-` and spaces kept), each space a hyphen."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a page's headings give, the second of a name being `name-1`, as on GitHub."""
    seen: Counter[str] = Counter()
    out = set()
    for match in _HEADING.finditer(_FENCE.sub("", text)):
        base = slug(match.group(2))
        out.add(base if seen[base] == 0 else f"{base}-{seen[base]}")
        seen[base] += 1
    return out


def broken_links(page: Path) -> tuple[list[str], int]:
    """The relative links of `page` that do not resolve, each named with why, and how many
    relative links it has in all."""
    problems = []
    count = 0
    for target in _LINK.findall(_prose(page.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:, ...
            continue
        count += 1
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            problems.append(f"{page.name}: {target}: no file {path}")
        elif anchor and (file.suffix != ".md" or anchor not in anchors(file.read_text())):
            problems.append(f"{page.name}: {target}: no heading #{anchor} in {file.name}")
    return problems, count


def test_the_anchor_rules_are_githubs() -> None:
    assert slug("Push: Testpress's own webhooks") == "push-testpresss-own-webhooks"
    assert slug("Testing rules: `notifier test`") == "testing-rules-notifier-test"
    assert slug("Grouping, digests, quiet hours and throttling") == (
        "grouping-digests-quiet-hours-and-throttling"
    )
    assert slug("`NOTIFIER_DB` and the store") == "notifier_db-and-the-store"
    assert anchors("# A\n\n```yaml\n# not a heading\n```\n## A\n") == {"a", "a-1"}


def test_a_broken_link_or_anchor_is_found(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## Its part\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\nSee [part](other.md#its-part), [here](#page), [gone](missing.md),\n"
        "[wrong](other.md#no-such-part), [self](#nowhere) and [web](https://x.example).\n"
        "`[code](not-a-link.md)`\n\n```md\n[fenced](not-a-link.md)\n```\n"
    )
    problems, count = broken_links(page)
    assert count == 5
    assert problems == [
        "page.md: missing.md: no file missing.md",
        "page.md: other.md#no-such-part: no heading #no-such-part in other.md",
        "page.md: #nowhere: no heading #nowhere in page.md",
    ]


def test_every_relative_link_in_the_readme_and_docs_resolves() -> None:
    problems: list[str] = []
    total = 0
    for page in PAGES:
        found, count = broken_links(page)
        problems += found
        total += count
    assert problems == []
    assert total >= 30  # the README's index and the pages' cross-links were all read


def test_the_readme_is_a_front_page_that_links_every_docs_page() -> None:
    readme = ROOT / "README.md"
    assert len(readme.read_text().splitlines()) <= 250
    linked = {
        (readme.parent / target.partition("#")[0]).resolve()
        for target in _LINK.findall(_prose(readme.read_text()))
    }
    unlinked = [page.name for page in PAGES[1:] if page.resolve() not in linked]
    assert unlinked == []
