"""The overview's chart, drawn on the server as SVG (no script, no inline style: the
Content-Security-Policy allows no inline script or style): alerts per hour over the last days, one
stacked colour per rule, with a legend. Colours and sizes are SVG attributes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 840, 220
LEFT, BOTTOM, TOP = 40, 30, 10
COLOURS = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip


@dataclass(frozen=True)
class Chart:
    svg: str  # the markup, every text in it escaped
    legend: list[tuple[str, str, int]]  # (rule, colour, alerts)
    total: int


def hourly_chart(rows: Sequence[Mapping[str, object]], first_hour: int, hours: int) -> Chart:
    """`rows` (rule, hour: Unix hours, n) as stacked bars from `first_hour` on."""
    per_rule: dict[str, dict[int, int]] = {}
    for row in rows:
        hour = int(str(row["hour"])) - first_hour
        if 0 <= hour < hours:
            per_rule.setdefault(str(row["rule"]), {})[hour] = int(str(row["n"]))
    rules = sorted(per_rule, key=lambda r: -sum(per_rule[r].values()))
    colour = {rule: COLOURS[i % len(COLOURS)] for i, rule in enumerate(rules)}
    stacks = [sum(per_rule[r].get(h, 0) for r in rules) for h in range(hours)]
    peak = max(stacks, default=0) or 1
    plot_w, plot_h = WIDTH - LEFT - 10, HEIGHT - BOTTOM - TOP
    bar = plot_w / hours
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="alerts per hour">',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 10}" y2="{TOP + plot_h}" '
        'stroke="#888" stroke-width="1"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 10}" text-anchor="end" font-size="11" '
        f'fill="#444">{peak}</text>',
        f'<text x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end" font-size="11" '
        'fill="#444">0</text>',
    ]
    for day in range(0, hours, 24):
        x = LEFT + day * bar
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}" '
            'stroke="#ddd" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{x + 2:.1f}" y="{HEIGHT - 10}" font-size="11" fill="#444">'
            f"-{(hours - day) // 24}d</text>"
        )
    for h in range(hours):
        y = float(TOP + plot_h)
        for rule in rules:
            n = per_rule[rule].get(h, 0)
            if not n:
                continue
            height = plot_h * n / peak
            y -= height
            parts.append(
                f'<rect x="{LEFT + h * bar:.1f}" y="{y:.1f}" width="{max(bar - 0.5, 0.5):.1f}" '
                f'height="{height:.1f}" fill="{colour[rule]}"><title>{escape(rule)}: {n}'
                "</title></rect>"
            )
    parts.append("</svg>")
    legend = [(rule, colour[rule], sum(per_rule[rule].values())) for rule in rules]
    return Chart("".join(parts), legend, sum(stacks))
