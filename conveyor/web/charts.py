"""A bar chart as inline SVG, drawn on the server: no script, no CDN (Flower's pages must work offline).

The SVG has a ``viewBox`` and no fixed width, so it fills its card at any window width. It says
what it shows: a legend (succeeded in blue, failed in red), a y axis in jobs per five minutes
(0, half and the busiest bucket, with grid lines), and times on the x axis with the date under
the first one and under each midnight.

Example::

    svg = throughput_svg([(bucket_start, succeeded, failed), ...])
"""

from __future__ import annotations

import datetime as dt
from html import escape

__all__ = ["throughput_svg"]

#: The drawing's own units; the page scales it to the card's width.
WIDTH, HEIGHT = 1200, 220
#: Room for the y axis' labels (left), the legend (top) and the time and date labels (bottom).
LEFT, TOP, BOTTOM = 48, 24, 34
SUCCEEDED, FAILED = "#3b7dd8", "#d83b3b"


def throughput_svg(series: list[tuple[int, int, int]], bucket_minutes: int = 5) -> str:
    """Succeeded (blue) and failed (red) executions per bucket, oldest left, in the server's local time."""
    if not series:
        return ""
    top = max(max(succeeded + failed for _, succeeded, failed in series), 1)
    plot_h = HEIGHT - TOP - BOTTOM
    step = (WIDTH - LEFT) / len(series)
    parts = [_y_axis(top, plot_h, bucket_minutes), _legend()]
    every = max(1, len(series) // 8)
    previous_day: dt.date | None = None
    for n, (start, succeeded, failed) in enumerate(series):
        x = LEFT + n * step
        done_h, fail_h = plot_h * succeeded / top, plot_h * failed / top
        moment = dt.datetime.fromtimestamp(start).astimezone()
        label = escape(f"{moment:%b %d %H:%M}: {succeeded} succeeded, {failed} failed")
        width = f"{max(step - 1, 1):.1f}"
        base = TOP + plot_h
        parts.append(
            f'<rect x="{x:.1f}" y="{base - done_h:.1f}" width="{width}" height="{done_h:.1f}" '
            f'fill="{SUCCEEDED}"><title>{label}</title></rect>'
        )
        if failed:
            parts.append(
                f'<rect x="{x:.1f}" y="{base - done_h - fail_h:.1f}" width="{width}" height="{fail_h:.1f}" '
                f'fill="{FAILED}"><title>{label}</title></rect>'
            )
        if n % every == 0:
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 19}" font-size="11" class="time">{moment:%H:%M}</text>')
            if moment.date() != previous_day:  # the first label, and the first after each midnight
                parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 4}" font-size="11" class="date">{moment:%b %d}</text>')
                previous_day = moment.date()
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-label="jobs succeeded and failed per {bucket_minutes} minutes over the last day" '
        f'id="throughput-chart">{"".join(parts)}</svg>'
    )


def _y_axis(top: int, plot_h: float, bucket_minutes: int) -> str:
    marks = sorted({0, top // 2, top}) if top > 1 else [0, 1]
    lines = []
    for value in marks:
        y = TOP + plot_h - plot_h * value / top
        lines.append(f'<line x1="{LEFT}" x2="{WIDTH}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd" stroke-width="1"/>')
        lines.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" class="tick">{value}</text>'
        )
    lines.append(f'<text x="0" y="12" font-size="11" class="unit">jobs per {bucket_minutes} min</text>')
    return "".join(lines)


def _legend() -> str:
    x = WIDTH - 190
    return (
        f'<g class="legend"><rect x="{x}" y="4" width="10" height="10" fill="{SUCCEEDED}"/>'
        f'<text x="{x + 14}" y="13" font-size="11">succeeded</text>'
        f'<rect x="{x + 90}" y="4" width="10" height="10" fill="{FAILED}"/>'
        f'<text x="{x + 104}" y="13" font-size="11">failed</text></g>'
    )
