"""Server-side SVG charts for the operator console: no script, no library, no CDN.

Each chart is an ``<svg role="img">`` with a ``<title>`` and ``<desc>`` (what a screen reader
says), axes with "nice" round ticks, every bar or point carrying its own ``<title>`` (a
tooltip) and the values printed on the chart, so the numbers are readable without hovering.
Text is escaped; colours are presentation attributes (the console's CSP forbids inline styles).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#84cc16", "#64748b")
OTHERS = "others"
Format = Callable[[float], str]


@dataclass(frozen=True, slots=True)
class Series:
    """One named row of values, one per label."""

    name: str
    values: Sequence[float]


def plain(value: float) -> str:
    """``1,234`` for whole numbers, ``1.5`` otherwise: the default number format."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """Round ticks from 0 up to at least ``top``: steps of 1, 2, 2.5 or 5 times a power of ten."""
    if not math.isfinite(top) or top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    ticks = [0.0]
    while ticks[-1] < top - 1e-12:
        ticks.append(round(ticks[-1] + step, 12))
    return ticks


def top_series(series: Sequence[Series], keep: int = len(PALETTE) - 1) -> list[Series]:
    """At most ``keep + 1`` series: all of them in their order when they fit, else the largest
    ``keep`` and the rest summed as "others"."""
    if len(series) <= keep + 1:
        return list(series)
    ranked = sorted(series, key=lambda s: -sum(s.values))
    rest = ranked[keep:]
    summed = [sum(values) for values in zip(*(s.values for s in rest), strict=True)]
    return [*ranked[:keep], Series(OTHERS, summed)]


class _Canvas:
    """Plot geometry: the frame, the y scale and the x slots of ``n`` labels."""

    def __init__(self, n: int, top: float, width: int, height: int) -> None:
        self.left, self.right, self.top_pad, self.bottom = 64, 12, 36, 46
        self.width, self.height = width, height
        self.ticks = nice_ticks(top)
        self.y_max = self.ticks[-1]
        self.n = max(1, n)

    @property
    def plot_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> float:
        return self.height - self.top_pad - self.bottom

    def y(self, value: float) -> float:
        return self.top_pad + self.plot_h * (1 - max(0.0, value) / self.y_max)

    def slot(self, i: int) -> tuple[float, float]:
        """The left edge and width of label ``i``'s slot."""
        w = self.plot_w / self.n
        return self.left + i * w, w

    def axes(self, labels: Sequence[str], fmt: Format) -> list[str]:
        parts = []
        for tick in self.ticks:
            y = self.y(tick)
            parts.append(
                f'<line class="grid" x1="{self.left}" x2="{self.width - self.right}" '
                f'y1="{y:.1f}" y2="{y:.1f}" stroke="#d4d4d8" stroke-width="1"/>'
                f'<text class="tick" x="{self.left - 6}" y="{y + 4:.1f}" text-anchor="end" '
                f'font-size="11" fill="#52525b">{escape(fmt(tick))}</text>'
            )
        base = self.y(0)
        parts.append(
            f'<line class="axis" x1="{self.left}" x2="{self.width - self.right}" '
            f'y1="{base:.1f}" y2="{base:.1f}" stroke="#3f3f46" stroke-width="1"/>'
        )
        every = max(1, math.ceil(len(labels) / 8))  # at most ~8 labels under the axis
        last = len(labels) - 1
        for i, label in enumerate(labels):
            # every ``every``-th label, and the last one (the one before it steps aside)
            if (i % every or last - i < every) and i != last:
                continue
            x, w = self.slot(i)
            parts.append(
                f'<text class="label" x="{x + w / 2:.1f}" y="{base + 16:.1f}" '
                f'text-anchor="middle" font-size="11" fill="#3f3f46">{escape(label)}</text>'
            )
        return parts


def _frame(
    chart_id: str,
    title: str,
    desc: str,
    width: int,
    height: int,
    body: list[str],
    *,
    css: str = "chart",
    heading: bool = True,
) -> str:
    """The ``<svg>`` around ``body``: accessible name and description, and the title shown
    at its top left (a screen reader reads it once: the visible copy is aria-hidden)."""
    cid = escape(chart_id, quote=True)
    if heading:
        body = [
            f'<text class="heading" x="8" y="16" font-size="13" font-weight="600" '
            f'fill="#18181b" aria-hidden="true">{escape(title)}</text>',
            *body,
        ]
    return (
        f'<svg class="{css}" id="{cid}" role="img" aria-labelledby="{cid}-t {cid}-d" '
        f'viewBox="0 0 {width} {height}" preserveAspectRatio="xMidYMid meet" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{cid}-t">{escape(title)}</title><desc id="{cid}-d">{escape(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def _legend(series: Sequence[Series], y: float, width: int) -> list[str]:
    parts, x = [], 64.0
    for k, s in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        name = s.name if len(s.name) <= 24 else s.name[:23] + "…"
        parts.append(
            f'<g class="legend"><rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" '
            f'fill="{colour}"/><text x="{x + 14:.1f}" y="{y:.1f}" font-size="11" '
            f'fill="#27272a">{escape(name)}</text></g>'
        )
        x += 24 + 6.5 * len(name)
        if x > width - 60:
            break
    return parts


def _summary(labels: Sequence[str], totals: Sequence[float], fmt: Format) -> str:
    shown = [f"{label}: {fmt(v)}" for label, v in zip(labels, totals, strict=True) if v]
    return "; ".join(shown) if shown else "no data"


def _bar(
    name: str,
    label: str,
    value: float,
    box: tuple[float, float, float, float],
    colour: str,
    fmt: Format,
) -> str:
    """One bar at ``box`` (x, top, width, height; at least half a pixel tall), with the data
    attributes the browser tests read and the value as its tooltip."""
    x, top, width, height = box
    return (
        f'<rect class="bar" data-series="{escape(name, quote=True)}" '
        f'data-label="{escape(label, quote=True)}" data-value="{value!r}" '
        f'x="{x:.1f}" y="{top:.1f}" width="{width:.1f}" '
        f'height="{max(0.5, height):.1f}" fill="{colour}">'
        f"<title>{escape(f'{label} · {name}: {fmt(value)}')}</title></rect>"
    )


def bar_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    fmt: Format = plain,
    width: int = 720,
    height: int = 280,
    stacked: bool = True,
) -> str:
    """Stacked bars, one per label, the total of each printed above it; ``stacked=False``:
    the series side by side in each label's slot, each value printed (percentiles…)."""
    series = top_series(series)
    if not stacked:
        return _grouped(chart_id, title, labels, series, fmt, width, height)
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    canvas = _Canvas(len(labels), max(totals, default=0.0), width, height)
    upright = len(labels) <= 12  # more bars: the values stand on end, or they would overlap
    if not upright:
        canvas.top_pad = 76
    body = canvas.axes(labels, fmt)
    if not any(totals):
        body.append(_empty(canvas))
    for i, label in enumerate(labels):
        x, w = canvas.slot(i)
        bar_w = max(1.0, w * 0.7)
        bottom = 0.0
        for k, s in enumerate(series):
            value = s.values[i]
            if value <= 0:
                continue
            y_top, y_bottom = canvas.y(bottom + value), canvas.y(bottom)
            box = (x + (w - bar_w) / 2, y_top, bar_w, y_bottom - y_top)
            body.append(_bar(s.name, label, value, box, PALETTE[k % len(PALETTE)], fmt))
            bottom += value
        if totals[i] > 0:
            vx, vy = x + w / 2, canvas.y(totals[i]) - 4
            turn = "" if upright else f' transform="rotate(-90 {vx + 3:.1f} {vy:.1f})"'
            body.append(
                f'<text class="value" x="{vx + (0 if upright else 3):.1f}" y="{vy:.1f}" '
                f'text-anchor="{"middle" if upright else "start"}" font-size="10"{turn} '
                f'fill="#18181b">{escape(fmt(totals[i]))}</text>'
            )
    if len(series) > 1 or (series and series[0].name):
        body += _legend(series, height - 8, width)
    return _frame(chart_id, title, _summary(labels, totals, fmt), width, height, body)


def _grouped(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Format,
    width: int,
    height: int,
) -> str:
    top = max((v for s in series for v in s.values), default=0.0)
    canvas = _Canvas(len(labels), top, width, height)
    body = canvas.axes(labels, fmt)
    if top <= 0:
        body.append(_empty(canvas))
    k_count = max(1, len(series))
    for i, label in enumerate(labels):
        x, w = canvas.slot(i)
        inner = w * 0.8 / k_count
        for k, s in enumerate(series):
            value = s.values[i]
            if value <= 0:
                continue
            bx = x + w * 0.1 + k * inner
            y_top, base = canvas.y(value), canvas.y(0)
            box = (bx, y_top, max(1.0, inner - 2), base - y_top)
            body.append(
                _bar(s.name, label, value, box, PALETTE[k % len(PALETTE)], fmt)
                + f'<text class="value" x="{bx + inner / 2:.1f}" y="{y_top - 4:.1f}" '
                f'text-anchor="middle" font-size="10" fill="#18181b">{escape(fmt(value))}</text>'
            )
    body += _legend(series, height - 8, width)
    desc = "; ".join(
        f"{label} {s.name}: {fmt(s.values[i])}"
        for i, label in enumerate(labels)
        for s in series
        if s.values[i]
    )
    return _frame(chart_id, title, desc or "no data", width, height, body)


def line_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    fmt: Format = plain,
    width: int = 720,
    height: int = 240,
) -> str:
    """One line per series with a dot per value; each series' last value is printed."""
    series = top_series(series)
    top = max((v for s in series for v in s.values), default=0.0)
    canvas = _Canvas(len(labels), top, width, height)
    body = canvas.axes(labels, fmt)
    if not series or top <= 0:
        body.append(_empty(canvas))
    for k, s in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        points = []
        for i, value in enumerate(s.values):
            x, w = canvas.slot(i)
            points.append((x + w / 2, canvas.y(value), labels[i], value))
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in points)
            body.append(
                f'<polyline class="line" points="{path}" fill="none" stroke="{colour}" '
                f'stroke-width="2"/>'
            )
        for px, py, label, value in points:
            body.append(
                f'<circle class="point" data-series="{escape(s.name, quote=True)}" '
                f'data-label="{escape(label, quote=True)}" data-value="{value!r}" '
                f'cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(f'{label} · {s.name}: {fmt(value)}')}</title></circle>"
            )
        if points:
            px, py, _, value = points[-1]
            body.append(
                f'<text class="value" x="{px - 4:.1f}" y="{py - 7:.1f}" text-anchor="end" '
                f'font-size="11" fill="{colour}">{escape(fmt(value))}</text>'
            )
    if len(series) > 1 or (series and series[0].name):
        body += _legend(series, height - 8, width)
    last = [f"{s.name}: {fmt(s.values[-1])}" for s in series if s.values]
    desc = "; ".join(last) if last and top > 0 else "no data"
    return _frame(chart_id, title, desc, width, height, body)


def meter(
    chart_id: str, title: str, used: float, limit: float, *, fmt: Format = plain, width: int = 150
) -> str:
    """A horizontal gauge: ``used`` of ``limit`` (over 100% shows full, in red)."""
    height = 34
    share = used / limit if limit > 0 else 0.0
    colour = "#ef4444" if share >= 0.9 else "#f59e0b" if share >= 0.7 else "#10b981"
    filled = (width - 2) * min(1.0, max(0.0, share))
    text = f"{fmt(used)} / {fmt(limit)} ({share:.0%})"
    body = [
        f'<rect x="1" y="4" width="{width - 2}" height="16" rx="3" fill="#e4e4e7"/>',
        f'<rect class="fill" data-value="{used!r}" data-limit="{limit!r}" x="1" y="4" '
        f'width="{filled:.1f}" height="16" rx="3" fill="{colour}"/>',
        f'<text class="value" x="2" y="33" font-size="12" fill="#18181b">{escape(text)}</text>',
    ]
    return _frame(
        chart_id, title, f"{title}: {text}", width, height + 2, body, css="meter", heading=False
    )


def _empty(canvas: _Canvas) -> str:
    return (
        f'<text class="empty" x="{canvas.left + canvas.plot_w / 2:.1f}" '
        f'y="{canvas.top_pad + canvas.plot_h / 2:.1f}" text-anchor="middle" font-size="13" '
        f'fill="#71717a">no data yet</text>'
    )
