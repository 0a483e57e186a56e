"""Geometry for the report's chart: bars of messages accepted and delivered over time, drawn as inline SVG.

No charting library: the admin page stays one request, works without JavaScript, and prints. The template
(``campaigns/admin/_timeline_chart.html``) draws what this computes.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 16, 40  # room for the axes' labels
STEP_NAMES = {timedelta(seconds=1): "second", timedelta(minutes=1): "minute", timedelta(hours=1): "hour"}


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    label: str  # the bucket's start, for the tooltip


def _nice_ceiling(value: int) -> int:
    """1, 2, 5, 10, 20, 50 ... at or above value: a round top for the y axis."""
    step = 1
    while True:
        for multiple in (1, 2, 5):
            if step * multiple >= value:
                return step * multiple
        step *= 10


def _label(moment, step: timedelta) -> str:
    local = timezone.localtime(moment)
    if step < timedelta(minutes=1):
        return local.strftime("%H:%M:%S")
    return local.strftime("%d %b" if step >= timedelta(days=1) else "%d %b %H:%M")


def timeline_chart(timeline: dict) -> dict | None:
    """Bars for each series, y-axis ticks and a few x-axis labels; None when there is nothing to draw."""
    starts = timeline["starts"]
    if not starts or (not any(timeline["accepted"]) and not any(timeline["delivered"])):
        return None
    top = _nice_ceiling(max(max(timeline["accepted"]), max(timeline["delivered"]), 1))
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / len(starts)
    bar_width = min(max(slot / 2 - 1, 0.5), 28)  # a few wide buckets stay bars, not blocks
    series = {}
    for offset, name in enumerate(("accepted", "delivered")):
        bars = []
        for index, value in enumerate(timeline[name]):
            height = plot_height * value / top
            bars.append(
                Bar(
                    x=round(LEFT + index * slot + slot / 2 - bar_width - 0.5 + offset * (bar_width + 1), 2),
                    y=round(TOP + plot_height - height, 2),
                    width=round(bar_width, 2),
                    height=round(height, 2),
                    value=value,
                    label=_label(starts[index], timeline["step"]),
                )
            )
        series[name] = bars
    ticks = [{"y": round(TOP + plot_height * (1 - f), 2), "value": round(top * f)} for f in (0, 0.5, 1)]
    every = max(len(starts) // 5, 1)
    x_labels = []
    for i in range(0, len(starts), every):
        x = LEFT + i * slot + slot / 2
        # A label near either edge is anchored inwards, so that its text stays inside the drawing.
        anchor = "start" if x - LEFT < 40 else "end" if WIDTH - RIGHT - x < 40 else "middle"
        x_labels.append({"x": round(x, 2), "text": _label(starts[i], timeline["step"]), "anchor": anchor})
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "plot": {"left": LEFT, "right": WIDTH - RIGHT, "top": TOP, "bottom": TOP + plot_height},
        "series": series,
        "ticks": ticks,
        "x_labels": x_labels,
        "step_text": STEP_NAMES.get(timeline["step"], "day"),
    }
