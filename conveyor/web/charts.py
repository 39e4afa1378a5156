"""A bar chart as inline SVG, drawn on the server: no script, no CDN (Flower's pages must work offline).

Example::

    svg = throughput_svg([(bucket_start, processed, failed), ...])
"""

from __future__ import annotations

import datetime as dt
from html import escape

__all__ = ["throughput_svg"]

WIDTH, HEIGHT, MARGIN = 864, 160, 24


def throughput_svg(series: list[tuple[int, int, int]]) -> str:
    """Processed (blue) and failed (red) jobs per bucket, oldest left; an axis label every few hours."""
    if not series:
        return ""
    top = max(max(processed + failed for _, processed, failed in series), 1)
    step = (WIDTH - MARGIN) / len(series)
    bars = []
    for n, (start, processed, failed) in enumerate(series):
        x = MARGIN + n * step
        done_h = (HEIGHT - MARGIN) * processed / top
        fail_h = (HEIGHT - MARGIN) * failed / top
        when = dt.datetime.fromtimestamp(start).astimezone().strftime("%H:%M")
        label = escape(f"{when}: {processed} processed, {failed} failed")
        width = f"{max(step - 1, 1):.1f}"
        bars.append(
            f'<rect x="{x:.1f}" y="{HEIGHT - MARGIN - done_h:.1f}" width="{width}" height="{done_h:.1f}" '
            f'fill="#3b7dd8"><title>{label}</title></rect>'
        )
        if failed:
            bars.append(
                f'<rect x="{x:.1f}" y="{HEIGHT - MARGIN - done_h - fail_h:.1f}" width="{width}" '
                f'height="{fail_h:.1f}" fill="#d83b3b"><title>{label}</title></rect>'
            )
        if n % max(1, len(series) // 6) == 0:
            bars.append(f'<text x="{x:.1f}" y="{HEIGHT - 6}" font-size="10">{escape(when)}</text>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="jobs processed and failed per five minutes" id="throughput-chart">'
        f'<text x="0" y="12" font-size="10">{top}</text>{"".join(bars)}</svg>'
    )
