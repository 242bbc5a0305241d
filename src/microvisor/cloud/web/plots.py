"""SVG plots made on the server with presentation attributes only: time plots, bar lists, stage progress."""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from dataclasses import dataclass

from .markup import Markup, tag

WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, BOTTOM = 60, 20, 52
# Okabe-Ito: told apart by most people with a colour vision deficiency.
COLOURS = ("#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9", "#000000", "#999999")
TICK_STEPS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 14400, 21600, 43200, 86400, 172800)
AXIS, GRID, INK = "#444444", "#dddddd", "#222222"


@dataclass(frozen=True)
class Series:
    """One named series of (moment, value) points, in time order."""

    name: str
    points: Sequence[tuple[datetime.datetime, float]]


@dataclass(frozen=True)
class Bar:
    label: str
    value: int


def nice_top(value: float) -> tuple[float, float]:
    """The axis's top and tick step for values up to value: 1, 2 or 5 times a power of ten, 2 to 5 ticks."""
    if value <= 0:
        return 1.0, 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for factor in (0.1, 0.2, 0.5, 1, 2, 5, 10):
        step = factor * magnitude
        if step >= 1 and value / step <= 5:
            return step * math.ceil(value / step), step
    return value, value


def _number(value: float) -> str:
    return f"{value:g}" if value < 1e6 else f"{value:.3g}"


def _legend(series: Sequence[Series], top: int) -> tuple[list[Markup], int]:
    """The legend's items laid out in rows under the title; returns them and the height they take."""
    items, x, y = [], LEFT, top
    for index, one in enumerate(series):
        width = 24 + 7 * len(one.name)
        if x + width > WIDTH - RIGHT and x > LEFT:
            x, y = LEFT, y + 18
        colour = COLOURS[index % len(COLOURS)]
        items.append(tag("g", tag("rect", x=x, y=y - 10, width=12, height=12, fill=colour),
                         tag("text", one.name, x=x + 17, y=y, font_size=12, fill=INK), class_="legend-item"))
        x += width + 12
    return items, (y - top + 18) if series else 0


class _Frame:
    """The plot's scales: time across, values up."""

    def __init__(self, start: datetime.datetime, end: datetime.datetime, top: int, y_max: float):
        self.start, self.end = start.timestamp(), end.timestamp()
        self.top, self.bottom = top, HEIGHT - BOTTOM
        self.y_max = y_max

    def x(self, moment: datetime.datetime | float) -> float:
        seconds = moment.timestamp() if isinstance(moment, datetime.datetime) else moment
        span = max(self.end - self.start, 1.0)
        return round(LEFT + (WIDTH - LEFT - RIGHT) * (seconds - self.start) / span, 1)

    def y(self, value: float) -> float:
        return round(self.bottom - (self.bottom - self.top) * min(value, self.y_max) / self.y_max, 1)


def _axes(frame: _Frame, step: float, x_label: str, y_label: str) -> list[Markup]:
    parts = []
    value = 0.0
    while value <= frame.y_max + 1e-9:
        y = frame.y(value)
        parts.append(tag("line", x1=LEFT, x2=WIDTH - RIGHT, y1=y, y2=y, stroke=GRID))
        parts.append(tag("text", _number(value), x=LEFT - 6, y=y + 4, font_size=11, fill=INK,
                         text_anchor="end"))
        value += step
    span = frame.end - frame.start
    tick = next((s for s in TICK_STEPS if span / s <= 7), TICK_STEPS[-1])
    moment = math.ceil(frame.start / tick) * tick
    while moment <= frame.end:
        x = frame.x(moment)
        when = datetime.datetime.fromtimestamp(moment, datetime.UTC)
        label = when.strftime("%H:%M") if tick < 86400 else when.strftime("%d %b")
        parts.append(tag("line", x1=x, x2=x, y1=frame.bottom, y2=frame.bottom + 5, stroke=AXIS))
        parts.append(tag("text", label, x=x, y=frame.bottom + 18, font_size=11, fill=INK,
                         text_anchor="middle"))
        moment += tick
    parts.append(tag("line", x1=LEFT, x2=WIDTH - RIGHT, y1=frame.bottom, y2=frame.bottom, stroke=AXIS))
    parts.append(tag("line", x1=LEFT, x2=LEFT, y1=frame.top, y2=frame.bottom, stroke=AXIS))
    parts.append(tag("text", x_label, x=(LEFT + WIDTH - RIGHT) / 2, y=HEIGHT - 8, font_size=12, fill=INK,
                     text_anchor="middle", class_="axis-label"))
    middle = (frame.top + frame.bottom) / 2
    parts.append(tag("text", y_label, x=14, y=middle, font_size=12, fill=INK, text_anchor="middle",
                     transform=f"rotate(-90 14 {middle})", class_="axis-label"))
    return parts


def _stamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def time_plot(title: str, series: Sequence[Series], *, start: datetime.datetime, end: datetime.datetime,
              y_label: str, kind: str, bucket: datetime.timedelta | None = None, unit: str = "",
              x_label: str = "time (UTC)", note: str = "") -> Markup:
    """A plot over [start, end]: kind "bars" (the series stacked, each point a bucket of `bucket`
    starting at its moment) or "step" (each value holds until the next point)."""
    legend, legend_height = _legend(series, 42)
    top = 42 + legend_height + 6
    if kind == "bars":
        totals: dict[datetime.datetime, float] = {}
        for one in series:
            for moment, value in one.points:
                totals[moment] = totals.get(moment, 0) + value
        highest = max(totals.values(), default=0)
    else:
        highest = max((value for one in series for _, value in one.points), default=0)
    y_max, step = nice_top(highest)
    frame = _Frame(start, end, top, y_max)
    heading = tag("text", title, x=LEFT, y=20, font_size=15, font_weight="bold", fill=INK)
    parts = [tag("title", title), heading, *_axes(frame, step, x_label, y_label), *legend]
    if not any(one.points for one in series):
        parts.append(tag("text", "nothing in this time", x=(LEFT + WIDTH - RIGHT) / 2,
                         y=(top + frame.bottom) / 2, font_size=13, fill="#777777", text_anchor="middle"))
    if kind == "bars":
        parts += _bars(frame, series, bucket or datetime.timedelta(minutes=1), unit)
    else:
        parts += _steps(frame, series, end, unit)
    if note:
        parts.append(tag("text", note, x=WIDTH - RIGHT, y=20, font_size=11, fill="#777777",
                         text_anchor="end"))
    return tag("svg", parts, viewBox=f"0 0 {WIDTH} {HEIGHT}", width="100%", role="img", aria_label=title,
               class_="plot", xmlns="http://www.w3.org/2000/svg")


def _bars(frame: _Frame, series: Sequence[Series], bucket: datetime.timedelta, unit: str) -> list[Markup]:
    stacked: dict[datetime.datetime, float] = {}
    groups = []
    for index, one in enumerate(series):
        marks = []
        for moment, value in one.points:
            if value <= 0:
                continue
            below = stacked.get(moment, 0)
            stacked[moment] = below + value
            left, right = frame.x(moment), frame.x(moment + bucket)
            width = max(right - left - (1 if right - left > 3 else 0), 1)
            top, base = frame.y(below + value), frame.y(below)
            label = f"{one.name}: {_number(value)} {unit} from {moment.strftime('%H:%M')} UTC"
            marks.append(tag("rect", tag("title", label), x=left, y=top, width=round(width, 1),
                             height=round(max(base - top, 0.5), 1), fill=COLOURS[index % len(COLOURS)],
                             data_time=_stamp(moment), data_value=_number(value)))
        groups.append(tag("g", marks, class_="series", data_series=one.name))
    return groups


def _steps(frame: _Frame, series: Sequence[Series], end: datetime.datetime, unit: str) -> list[Markup]:
    groups = []
    for index, one in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        marks, path = [], []
        for number, (moment, value) in enumerate(one.points):
            x, y = frame.x(moment), frame.y(value)
            path.append(f"M{x} {y}" if number == 0 else f"H{x} V{y}")
            label = f"{_number(value)} {unit} from {moment.strftime('%H:%M:%S')} UTC"
            marks.append(tag("circle", tag("title", label), cx=x, cy=y, r=2.5, fill=colour,
                             data_time=_stamp(moment), data_value=_number(value)))
        if one.points:
            path.append(f"H{frame.x(end)}")
        groups.append(tag("g", tag("path", d=" ".join(path), fill="none", stroke=colour, stroke_width=2),
                          marks, class_="series", data_series=one.name))
    return groups


def bar_list(title: str, bars: Sequence[Bar], unit: str) -> Markup:
    """Labelled horizontal bars, one a row (such as crashes per app version)."""
    row, label_width = 24, 300
    height = 16 + row * max(len(bars), 1)
    highest = max((bar.value for bar in bars), default=0) or 1
    span = WIDTH - label_width - 90
    parts = [tag("title", title)]
    for index, bar in enumerate(bars):
        y = 10 + index * row
        width = max(round(span * bar.value / highest, 1), 1)
        parts.append(tag("g", tag("text", bar.label, x=label_width - 8, y=y + 14, font_size=12, fill=INK,
                                  text_anchor="end"),
                         tag("rect", tag("title", f"{bar.label}: {bar.value} {unit}"), x=label_width, y=y + 2,
                             width=width, height=row - 8, fill=COLOURS[index % len(COLOURS)]),
                         tag("text", f"{bar.value} {unit}", x=label_width + width + 6, y=y + 14, font_size=12,
                             fill=INK),
                         class_="series", data_series=bar.label, data_value=str(bar.value)))
    if not bars:
        parts.append(tag("text", "nothing counted", x=label_width, y=24, font_size=12, fill="#777777"))
    return tag("svg", parts, viewBox=f"0 0 {WIDTH} {height}", width=str(WIDTH), height=str(height),
               role="img", aria_label=title, class_="plot bars", xmlns="http://www.w3.org/2000/svg")


def stage_progress(stages: Sequence[dict], total: int) -> Markup:
    """A deployment's stages, one a row: how many devices each reaches (light) and how many of those
    run the app (dark), out of all the deployment's devices."""
    width, row, label_width = 300, 20, 44
    track = width - label_width - 110
    total = max(total, 1)
    parts = [tag("title", "Progress per stage: devices reached and updated")]
    for index, stage in enumerate(stages):
        y = index * row
        reached, updated = int(stage.get("devices", 0)), int(stage.get("updated", 0))
        parts.append(tag(
            "g",
            tag("text", f"{stage.get('percent', '?')}%", x=label_width - 8, y=y + 13, font_size=12, fill=INK,
                text_anchor="end"),
            tag("rect", x=label_width, y=y + 3, width=track, height=row - 6, fill="#eeeeee"),
            tag("rect", x=label_width, y=y + 3, width=round(track * reached / total, 1), height=row - 6,
                fill="#9ecae1"),
            tag("rect", x=label_width, y=y + 3, width=round(track * updated / total, 1), height=row - 6,
                fill="#0072b2"),
            tag("text", f"{updated} of {reached} updated", x=label_width + track + 6, y=y + 13, font_size=12,
                fill=INK),
            class_="stage", data_reached=str(reached), data_updated=str(updated)))
    return tag("svg", parts, viewBox=f"0 0 {width} {max(len(stages), 1) * row}", width=str(width),
               role="img", aria_label="Progress per stage", class_="progress", xmlns="http://www.w3.org/2000/svg")


def figure(plot: Markup, caption: str) -> Markup:
    return tag("figure", plot, tag("figcaption", caption))
