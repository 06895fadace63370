"""Charts drawn on the server as inline SVG: no chart library in the browser.

Each chart is an ``<svg role="img">`` with an ``aria-label`` that says what it shows; the page
puts the same numbers in a table beside it for screen readers and for people who prefer text.
Colours come from classes styled in ``static/css/board.css`` (the CSP forbids inline styles).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Series:
    """One line or set of bars: a CSS class (its colour), a legend label and the values."""

    css: str
    label: str
    values: Sequence[float]


def _nice_max(value: float) -> float:
    """A round top for the axis (1, 2, 5 × 10^n) so gridlines fall on readable numbers."""
    if value <= 0:
        return 1.0
    magnitude = 1.0
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _number(value: float) -> str:
    return f"{value:,.0f}".replace(",", "\u202f")


def bar_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    width: int = 640,
    height: int = 240,
    lines: bool = False,
) -> Markup:
    """Grouped bars (or lines, ``lines=True``) of several series over the same labels."""
    left, right, top, bottom = 44, 8, 12, 40
    plot_w = width - left - right
    plot_h = height - top - bottom
    count = max(len(labels), 1)
    top_value = _nice_max(max((v for s in series for v in s.values), default=0))
    slot = plot_w / count

    def y(value: float) -> float:
        return top + plot_h - (value / top_value) * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        value = top_value * i / 4
        gy = y(value)
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{gy:.1f}" y2="{gy:.1f}"/>')
        parts.append(f'<text class="axis" x="{left - 6}" y="{gy + 4:.1f}" text-anchor="end">{_number(value)}</text>')
    step = max(1, count // 12)
    for index, label in enumerate(labels):
        if index % step == 0:
            x = left + slot * (index + 0.5)
            parts.append(f'<text class="axis" x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle">{escape(label)}</text>')
    if lines:
        for s in series:
            points = " ".join(
                f"{left + slot * (i + 0.5):.1f},{y(v):.1f}" for i, v in enumerate(s.values)
            )
            parts.append(f'<polyline class="line {escape(s.css)}" points="{points}" fill="none"/>')
            for i, v in enumerate(s.values):
                parts.append(f'<circle class="dot {escape(s.css)}" cx="{left + slot * (i + 0.5):.1f}" cy="{y(v):.1f}" r="3"/>')
    else:
        group = slot * 0.8
        bar = group / max(len(series), 1)
        for si, s in enumerate(series):
            for i, v in enumerate(s.values):
                x = left + slot * i + slot * 0.1 + bar * si
                h = (v / top_value) * plot_h
                parts.append(
                    f'<rect class="bar {escape(s.css)}" x="{x:.1f}" y="{top + plot_h - h:.1f}" '
                    f'width="{max(bar - 1, 1):.1f}" height="{h:.1f}"/>'
                )
    legend_x = left
    for s in series:
        parts.append(f'<rect class="bar {escape(s.css)}" x="{legend_x}" y="{height - 14}" width="10" height="10"/>')
        parts.append(f'<text class="legend" x="{legend_x + 14}" y="{height - 5}">{escape(s.label)}</text>')
        legend_x += 14 + 8 * len(s.label) + 18
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every value above is escaped or a number)
