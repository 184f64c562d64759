"""Charts drawn on the server as SVG: pure functions from numbers to an SVG string, no JavaScript.

Every chart carries a <title> and a <desc> that say in words what the bars show, every bar has
its count written on it, and reference lines are labelled: nothing is told by colour alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

WIDTH = 640
HEIGHT = 270
LEFT, RIGHT, TOP, BOTTOM = 44, 16, 52, 56

INK = "#1b1f24"
MUTED = "#57606a"
BAR = "#0b5cad"
TARGET = "#b42318"
BAND = "#8a5a00"
MEDIAN = "#1a7f37"


@dataclass(frozen=True)
class Bar:
    label: str  # under the bar, e.g. "8–14"
    count: int
    waiting: bool = False  # drawn hatched: cases not finished yet (the label says so too)


@dataclass(frozen=True)
class Marker:
    """A labelled vertical line (`end` None) or band (`start`..`end`), in bar units: 0 = left edge of bar 0."""

    label: str
    start: float
    end: float | None = None
    kind: str = "target"  # target (solid) | band (shaded, dashed edges) | median (dotted)


def edges_buckets(edges: Sequence[float], unit: str = "") -> list[str]:
    """Labels for buckets (0, e0], (e0, e1], ..., (e_last, inf): '≤7', '7–14', ..., '>28'."""
    labels = [f"≤{edges[0]:g}{unit}"]
    labels += [f"{low:g}–{high:g}{unit}" for low, high in zip(edges, edges[1:], strict=False)]
    labels.append(f">{edges[-1]:g}{unit}")
    return labels


def position(value: float, edges: Sequence[float]) -> float:
    """Where `value` falls in bar units, for buckets (0, e0], (e0, e1], ..., (e_last, inf)."""
    lower = 0.0
    for index, upper in enumerate(edges):
        if value <= upper:
            span = upper - lower
            return index + (max(value, lower) - lower) / span if span else float(index)
        lower = upper
    return len(edges) + 0.5  # the open-ended last bucket: its middle


def _text(x: float, y: float, body: str, *, anchor: str = "middle", fill: str = INK, size: int = 11,
          weight: str = "normal") -> str:  # fmt: skip
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}" font-size="{size}" '
        f'font-weight="{weight}" font-family="system-ui, sans-serif">{escape(body)}</text>'
    )


def _describe(bars: Sequence[Bar], markers: Sequence[Marker], unit_words: str, x_label: str) -> str:
    counts = "; ".join(
        f"{bar.label}{' (still waiting)' if bar.waiting else ''}: {bar.count} {unit_words if bar.count != 1 else unit_words.rstrip('s')}"
        for bar in bars
    )
    lines = "; ".join(marker.label for marker in markers)
    return f"Histogram of {x_label}. {counts}." + (f" Reference lines: {lines}." if lines else "")


def histogram(
    *,
    chart_id: str,
    title: str,
    bars: Sequence[Bar],
    markers: Sequence[Marker] = (),
    x_label: str = "days",
    unit_words: str = "cases",
) -> str:
    """A bar chart of counts per bucket with labelled reference lines, as a standalone SVG element."""
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    base = TOP + plot_height
    slot = plot_width / max(1, len(bars))
    tallest = max([bar.count for bar in bars] + [1])

    def x_at(units: float) -> float:
        return LEFT + units * slot

    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" id={quoteattr(chart_id)} '
        f'aria-labelledby="{title_id} {desc_id}" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
        f'style="max-width:{WIDTH}px">',
        f"<title id={quoteattr(title_id)}>{escape(title)}</title>",
        f"<desc id={quoteattr(desc_id)}>{escape(_describe(bars, markers, unit_words, x_label))}</desc>",
        "<defs>"
        f'<pattern id="{chart_id}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)">'
        f'<rect width="6" height="6" fill="#ffffff"/><line x1="0" y1="0" x2="0" y2="6" stroke="{MUTED}" '
        'stroke-width="3"/></pattern></defs>',
        # axes
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" stroke="{MUTED}" stroke-width="1"/>',
        f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" stroke="{MUTED}" stroke-width="1"/>',
        _text(LEFT - 6, base + 4, "0", anchor="end", fill=MUTED),
        _text(LEFT - 6, TOP + 4, str(tallest), anchor="end", fill=MUTED),
        _text(LEFT + plot_width / 2, HEIGHT - 8, x_label, fill=MUTED),
    ]
    for index, bar in enumerate(bars):
        height = plot_height * bar.count / tallest
        x = x_at(index) + slot * 0.12
        width = slot * 0.76
        fill = f"url(#{chart_id}-hatch)" if bar.waiting else BAR
        parts.append(
            f'<rect x="{x:.1f}" y="{base - height:.1f}" width="{width:.1f}" height="{height:.1f}" fill="{fill}" '
            f'stroke="{INK if bar.waiting else BAR}" stroke-width="1"><title>{escape(bar.label)}: {bar.count}'
            f"</title></rect>"
        )
        parts.append(_text(x + width / 2, base - height - 4, str(bar.count), weight="bold"))
        parts.append(_text(x + width / 2, base + 15, bar.label))
        if bar.waiting:
            parts.append(_text(x + width / 2, base + 28, "still waiting", fill=MUTED, size=10))
    for row, marker in enumerate(markers):
        label_y = 14 + 13 * (row % 3)
        x0 = x_at(marker.start)
        # labels run right of their line, or left of it near the right edge
        label_x, anchor = (x0 + 3, "start") if x0 < WIDTH - 220 else (x0 - 3, "end")
        if marker.kind == "band" and marker.end is not None:
            x1 = x_at(marker.end)
            parts.append(
                f'<rect x="{x0:.1f}" y="{TOP}" width="{max(2.0, x1 - x0):.1f}" height="{plot_height}" '
                f'fill="{BAND}" fill-opacity="0.15" stroke="{BAND}" stroke-dasharray="4 3"/>'
            )
            parts.append(f'<line x1="{x0:.1f}" y1="{label_y + 3}" x2="{x0:.1f}" y2="{TOP}" stroke="{BAND}" '
                         'stroke-dasharray="4 3"/>')  # fmt: skip
            parts.append(_text(label_x, label_y, marker.label, anchor=anchor, fill=BAND))
            continue
        colour, dash = (TARGET, "") if marker.kind == "target" else (MEDIAN, ' stroke-dasharray="2 2"')
        parts.append(
            f'<line x1="{x0:.1f}" y1="{label_y + 3}" x2="{x0:.1f}" y2="{base}" stroke="{colour}" stroke-width="2"{dash}/>'
        )
        parts.append(_text(label_x, label_y, marker.label, anchor=anchor, fill=colour, weight="bold"))
    parts.append("</svg>")
    return "".join(parts)
