"""``conveyor.web.charts.throughput_svg``: succeeded and failed jobs per bucket as an inline SVG bar chart."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from conveyor.web.charts import BOTTOM, FAILED, HEIGHT, SUCCEEDED, TOP, WIDTH, throughput_svg

SVG = "{http://www.w3.org/2000/svg}"
START = 1_800_000_000


def chart(series: list[tuple[int, int, int]]) -> ET.Element:
    return ET.fromstring(throughput_svg(series))


def bars(svg: ET.Element) -> list[ET.Element]:
    return [rect for rect in svg.findall(f"{SVG}rect") if rect.find(f"{SVG}title") is not None]


def texts(svg: ET.Element, kind: str) -> list[str]:
    return [text.text or "" for text in svg.iter(f"{SVG}text") if text.get("class") == kind]


def test_no_series_draws_nothing() -> None:
    assert throughput_svg([]) == ""


def test_it_fills_its_card_at_any_width() -> None:
    svg = chart([(START, 1, 0)])
    assert svg.get("viewBox") == f"0 0 {WIDTH} {HEIGHT}"
    assert svg.get("width") == "100%"
    assert svg.get("height") is None


def test_bars_are_scaled_to_the_busiest_bucket_and_failures_stack_in_red() -> None:
    # Given a bucket of 10 succeeded, one of 5 succeeded and 5 failed, one idle
    svg = chart([(START, 10, 0), (START + 300, 5, 5), (START + 600, 0, 0)])
    rects = bars(svg)
    # Then the y axis reads 0, half and the busiest bucket's total, in jobs per five minutes
    assert texts(svg, "tick") == ["0", "5", "10"]
    assert texts(svg, "unit") == ["jobs per 5 min"]
    # And each bucket has a blue bar, the failed one a red bar on top of it
    assert [rect.get("fill") for rect in rects] == [SUCCEEDED, SUCCEEDED, FAILED, SUCCEEDED]
    full = HEIGHT - TOP - BOTTOM
    assert [float(rect.get("height", "")) for rect in rects] == [full, full / 2, full / 2, 0.0]
    blue, red = rects[1], rects[2]
    assert float(red.get("y", "")) + float(red.get("height", "")) == float(blue.get("y", ""))
    # And every bar tells its counts on hover
    assert (rects[2].findtext(f"{SVG}title") or "").endswith(": 5 succeeded, 5 failed")


def test_a_legend_says_which_colour_is_which() -> None:
    svg = chart([(START, 1, 1)])
    legend = svg.find(f"{SVG}g[@class='legend']")
    assert legend is not None
    assert [rect.get("fill") for rect in legend.findall(f"{SVG}rect")] == [SUCCEEDED, FAILED]
    assert [text.text for text in legend.findall(f"{SVG}text")] == ["succeeded", "failed"]


def test_an_idle_day_still_has_a_scale_of_one_not_a_division_by_zero() -> None:
    assert texts(chart([(START, 0, 0), (START + 300, 0, 0)]), "tick") == ["0", "1"]


def test_times_run_oldest_left_with_the_date_under_the_first_and_after_midnight() -> None:
    # Given a day of five-minute buckets that crosses a local midnight
    midnight = dt.datetime(2027, 1, 15, tzinfo=dt.UTC).astimezone().replace(hour=0, minute=0, second=0)
    first = int(midnight.timestamp()) - 12 * 3600
    series = [(first + 300 * n, n % 7, 0) for n in range(288)]
    svg = chart(series)
    xs = [float(rect.get("x", "")) for rect in bars(svg)]
    assert xs == sorted(xs)
    times = texts(svg, "time")
    assert len(times) == 8
    assert all(len(label) == 5 and label[2] == ":" for label in times)  # HH:MM
    # Then the date is under the first label and under the first label of the next day
    day_before = (midnight - dt.timedelta(days=1)).strftime("%b %d")
    assert texts(svg, "date") == [day_before, midnight.strftime("%b %d")]
