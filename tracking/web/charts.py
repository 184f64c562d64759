"""Charts drawn on the server as SVG: pure functions from numbers to an SVG string, no JavaScript.

Every chart carries a <title> and a <desc> that say in words what the bars show, every bar has
its count written on it, and reference lines are labelled: nothing is told by colour alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

WIDTH = 640
PLOT_HEIGHT = 170
LEFT, RIGHT, BOTTOM = 44, 16, 58
LEGEND_ROW = 15
WAITING_GAP = 0.4  # bar units between the scale and the bars of cases still waiting

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
    waiting: bool = False  # cases not finished yet: drawn hatched, after a gap, off the day scale
    note: str = ""  # a second line under the label, e.g. "no diagnosis yet"


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


# A white outline under text that crosses bars or lines. Print renderers without paint-order (WeasyPrint)
# draw the outline over the letters: `for_print` takes it off.
HALO = ' stroke="#ffffff" stroke-width="3" paint-order="stroke"'


def for_print(svg: str) -> str:
    """A chart for a PDF: the same drawing without text outlines (see HALO)."""
    return svg.replace(HALO, "")


def _text(x: float, y: float, body: str, *, anchor: str = "middle", fill: str = INK, size: int = 11,
          weight: str = "normal", halo: bool = False) -> str:  # fmt: skip
    outline = HALO if halo else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}" font-size="{size}" '
        f'font-weight="{weight}" font-family="system-ui, sans-serif"{outline}>{escape(body)}</text>'
    )


def _describe(bars: Sequence[Bar], markers: Sequence[Marker], unit_words: str, x_label: str) -> str:
    def one(bar: Bar) -> str:
        noun = unit_words if bar.count != 1 else unit_words.rstrip("s")
        return f"{bar.label}{f' ({bar.note})' if bar.note else ''}: {bar.count} {noun}"

    counts = "; ".join(one(bar) for bar in bars)
    lines = f" Reference lines: {'; '.join(marker.label for marker in markers)}." if markers else ""
    return f"Histogram of {x_label}. {counts}.{lines}"


def _legend_sample(marker: Marker, x: float, y: float) -> str:
    if marker.kind == "band":
        return (
            f'<rect x="{x:.1f}" y="{y - 8:.1f}" width="22" height="10" fill="{BAND}" fill-opacity="0.15" '
            f'stroke="{BAND}" stroke-dasharray="4 3"/>'
        )
    colour, dash = (TARGET, "") if marker.kind == "target" else (MEDIAN, ' stroke-dasharray="2 2"')
    return (
        f'<line x1="{x:.1f}" y1="{y - 3:.1f}" x2="{x + 22:.1f}" y2="{y - 3:.1f}" stroke="{colour}" '
        f'stroke-width="2"{dash}/>'
    )


def _marker(marker: Marker, x_at, top: float, base: float) -> str:
    x0 = x_at(marker.start)
    if marker.kind == "band" and marker.end is not None:
        return (
            f'<rect x="{x0:.1f}" y="{top:.1f}" width="{max(2.0, x_at(marker.end) - x0):.1f}" '
            f'height="{base - top:.1f}" fill="{BAND}" fill-opacity="0.15" stroke="{BAND}" stroke-dasharray="4 3">'
            f"<title>{escape(marker.label)}</title></rect>"
        )
    colour, dash = (TARGET, "") if marker.kind == "target" else (MEDIAN, ' stroke-dasharray="2 2"')
    return (
        f'<line x1="{x0:.1f}" y1="{top:.1f}" x2="{x0:.1f}" y2="{base:.1f}" stroke="#ffffff" stroke-width="5"/>'
        f'<line x1="{x0:.1f}" y1="{top:.1f}" x2="{x0:.1f}" y2="{base:.1f}" stroke="{colour}" stroke-width="2"{dash}>'
        f"<title>{escape(marker.label)}</title></line>"
    )


def _opening(chart_id: str, height: float, title: str, description: str) -> list[str]:
    """The <svg> tag of a chart (an image named by its title and description) and those two."""
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" id={quoteattr(chart_id)} '
        f'aria-labelledby="{title_id} {desc_id}" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'style="max-width:{WIDTH}px">',
        f"<title id={quoteattr(title_id)}>{escape(title)}</title>",
        f"<desc id={quoteattr(desc_id)}>{escape(description)}</desc>",
    ]


def histogram(
    *,
    chart_id: str,
    title: str,
    bars: Sequence[Bar],
    markers: Sequence[Marker] = (),
    x_label: str = "days",
    unit_words: str = "cases",
) -> str:
    """Counts per bucket as touching bars, reference lines over them, and a legend naming each line.

    Bars on the day scale come first; bars with `waiting` set come last, after a gap. Marker
    positions are in bar units (see `position`).
    """
    legend_height = LEGEND_ROW * len(markers)
    top = 8 + legend_height + 22  # room for the count written over the tallest bar
    base = top + PLOT_HEIGHT
    height = base + BOTTOM
    plot_width = WIDTH - LEFT - RIGHT
    gap = WAITING_GAP if any(bar.waiting for bar in bars) else 0.0
    slot = plot_width / max(1.0, len(bars) + gap)
    tallest = max([bar.count for bar in bars] + [1])
    counts: list[str] = []  # drawn last, over the reference lines

    def x_at(units: float) -> float:
        return LEFT + units * slot

    parts = [
        *_opening(chart_id, height, title, _describe(bars, markers, unit_words, x_label)),
        "<defs>"
        f'<pattern id="{chart_id}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)">'
        f'<rect width="6" height="6" fill="#ffffff"/><line x1="0" y1="0" x2="0" y2="6" stroke="{MUTED}" '
        'stroke-width="3"/></pattern></defs>',
    ]
    for row, marker in enumerate(markers):  # the legend: a sample of each line's style, then its words
        y = 8 + LEGEND_ROW * (row + 1)
        parts.append(_legend_sample(marker, LEFT, y))
        parts.append(_text(LEFT + 28, y, marker.label, anchor="start"))
    parts += [
        f'<line x1="{LEFT}" y1="{top}" x2="{LEFT}" y2="{base}" stroke="{MUTED}" stroke-width="1"/>',
        f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" stroke="{MUTED}" stroke-width="1"/>',
        _text(LEFT - 6, base + 4, "0", anchor="end", fill=MUTED),
        _text(LEFT - 6, top + 4, str(tallest), anchor="end", fill=MUTED),
        _text(LEFT + plot_width / 2, height - 8, x_label, fill=MUTED),
    ]
    for index, bar in enumerate(bars):
        bar_height = PLOT_HEIGHT * bar.count / tallest
        x = x_at(index + (gap if bar.waiting else 0.0))
        middle = x + slot / 2
        fill = f"url(#{chart_id}-hatch)" if bar.waiting else BAR
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{base - bar_height:.1f}" width="{slot - 2:.1f}" height="{bar_height:.1f}" '
            f'fill="{fill}" stroke="{INK if bar.waiting else BAR}" stroke-width="1">'
            f"<title>{escape(bar.label)}{f' ({escape(bar.note)})' if bar.note else ''}: {bar.count}</title></rect>"
        )
        counts.append(_text(middle, base - bar_height - 4, str(bar.count), weight="bold", halo=True))
        parts.append(_text(middle, base + 15, bar.label))
        if bar.note:
            parts.append(_text(middle, base + 28, bar.note, fill=MUTED, size=10))
    parts += [_marker(marker, x_at, top - 6, base) for marker in markers]
    parts += counts
    parts.append("</svg>")
    return "".join(parts)


# --- rates against a published range (the outcomes audit) -------------------------------------------

RATE_LABEL_WIDTH = 150
RATE_ROW = 34
RATE_TOP = 8 + LEGEND_ROW + 12


@dataclass(frozen=True)
class RateBar:
    label: str  # e.g. a radiologist's name, or "Centre"
    percent: float | None  # None: nothing to divide by, no bar
    words: str  # written beside the bar: "33.3% (4 of 12), in range"


def rate_bars(*, chart_id: str, title: str, rows: Sequence[RateBar], band: tuple[float, float], band_label: str) -> str:
    """One horizontal bar per row on a 0-100% scale, the published range shaded behind them (dashed
    edges, named in the legend), and each bar's value and verdict written beside it in words."""
    plot_left, plot_width = RATE_LABEL_WIDTH, WIDTH - RATE_LABEL_WIDTH - RIGHT
    base = RATE_TOP + RATE_ROW * len(rows)
    height = base + 34

    def x_at(percent: float) -> float:
        return plot_left + plot_width * max(0.0, min(percent, 100.0)) / 100

    low, high = band
    described = "; ".join(f"{row.label}: {row.words}" for row in rows)
    parts = [
        *_opening(chart_id, height, title, f"{title}. {described}. Shaded: {band_label}."),
        _legend_sample(Marker(band_label, 0, 1, kind="band"), plot_left, 8 + LEGEND_ROW),
        _text(plot_left + 28, 8 + LEGEND_ROW, band_label, anchor="start"),
        f'<rect x="{x_at(low):.1f}" y="{RATE_TOP:.1f}" width="{x_at(high) - x_at(low):.1f}" '
        f'height="{base - RATE_TOP:.1f}" fill="{BAND}" fill-opacity="0.15" stroke="{BAND}" stroke-dasharray="4 3">'
        f"<title>{escape(band_label)}</title></rect>",
        f'<line x1="{plot_left}" y1="{RATE_TOP}" x2="{plot_left}" y2="{base}" stroke="{MUTED}" stroke-width="1"/>',
        f'<line x1="{plot_left}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" stroke="{MUTED}" stroke-width="1"/>',
    ]
    for tick in (0, 25, 50, 75, 100):
        parts.append(_text(x_at(tick), base + 15, f"{tick}%", fill=MUTED))
    parts.append(_text(plot_left + plot_width / 2, height - 4, "percent", fill=MUTED))
    for index, row in enumerate(rows):
        top = RATE_TOP + RATE_ROW * index + 6
        middle = top + (RATE_ROW - 12) / 2 + 4
        parts.append(_text(plot_left - 8, middle, row.label, anchor="end"))
        if row.percent is None:
            parts.append(_text(plot_left + 6, middle, row.words, anchor="start", fill=MUTED, halo=True))
            continue
        end = x_at(row.percent)
        parts.append(
            f'<rect x="{plot_left:.1f}" y="{top:.1f}" width="{max(1.0, end - plot_left):.1f}" '
            f'height="{RATE_ROW - 12}" fill="{BAR}"><title>{escape(row.label)}: {escape(row.words)}</title></rect>'
        )
        inside = end > plot_left + plot_width * 0.55  # a long bar carries its words inside, in white
        parts.append(
            _text(end - 6, middle, row.words, anchor="end", fill="#ffffff", weight="bold")
            if inside
            else _text(end + 6, middle, row.words, anchor="start", weight="bold", halo=True)
        )
    parts.append("</svg>")
    return "".join(parts)
