"""The console's SVG charts: scales, labels, numbers, accessibility and empty data."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from bots.web.admin.charts import (
    OTHERS,
    PALETTE,
    Series,
    bar_chart,
    line_chart,
    meter,
    nice_ticks,
    top_series,
)

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


def texts(root: ET.Element, css: str) -> list[str]:
    return [e.text or "" for e in root.iter(f"{SVG}text") if e.get("class") == css]


def bars(root: ET.Element) -> list[ET.Element]:
    return [e for e in root.iter(f"{SVG}rect") if e.get("class") == "bar"]


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        (10, [0, 2.5, 5, 7.5, 10]),
        (7, [0, 2, 4, 6, 8]),
        (0.034, [0, 0.01, 0.02, 0.03, 0.04]),
        (1234, [0, 500, 1000, 1500]),
        (1, [0, 0.25, 0.5, 0.75, 1]),
    ],
)
def test_ticks_are_round_and_reach_the_top(top, expected):
    ticks = nice_ticks(top)
    assert ticks == pytest.approx(expected)
    assert ticks[-1] >= top


@pytest.mark.parametrize("top", [0, -3, float("nan"), float("inf")])
def test_ticks_of_nothing_are_a_unit_scale(top):
    assert nice_ticks(top) == [0.0, 1.0]


def test_a_bar_chart_names_itself_and_prints_every_total():
    labels = ["12-01", "12-02", "12-03"]
    svg = bar_chart(
        "cost",
        "Cost per day <by model>",
        labels,
        [Series("kimi-k2", [1.5, 0, 2.0]), Series("moonshot-v1-8k", [0.5, 0, 0.25])],
        fmt=lambda v: f"¥{v:.2f}",
    )
    root = parse(svg)
    assert root.get("role") == "img"
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == "Cost per day <by model>"  # escaped, not markup
    assert root.get("aria-labelledby") == "cost-t cost-d"
    desc = root.find(f"{SVG}desc")
    assert desc is not None and desc.text == "12-01: ¥2.00; 12-03: ¥2.25"
    assert texts(root, "value") == ["¥2.00", "¥2.25"]  # no label over the empty day
    assert texts(root, "label") == labels
    assert texts(root, "tick") == ["¥0.00", "¥1.00", "¥2.00", "¥3.00"]
    drawn = [
        (b.get("data-series"), b.get("data-label"), float(b.get("data-value"))) for b in bars(root)
    ]
    assert drawn == [
        ("kimi-k2", "12-01", 1.5),
        ("moonshot-v1-8k", "12-01", 0.5),
        ("kimi-k2", "12-03", 2.0),
        ("moonshot-v1-8k", "12-03", 0.25),
    ]
    tooltips = [b.find(f"{SVG}title").text for b in bars(root)]  # type: ignore[union-attr]
    assert tooltips[0] == "12-01 · kimi-k2: ¥1.50"


def test_bars_are_scaled_to_the_axis():
    root = parse(bar_chart("c", "t", ["a", "b"], [Series("", [10, 5])], height=280))
    tall, short = bars(root)
    assert float(tall.get("height")) == pytest.approx(2 * float(short.get("height")), rel=0.02)
    # the top tick is 10: the taller bar reaches exactly the top gridline
    grid = [float(e.get("y1")) for e in root.iter(f"{SVG}line") if e.get("class") == "grid"]
    assert float(tall.get("y")) == pytest.approx(min(grid), abs=0.11)


def test_many_bars_stand_their_values_on_end_and_thin_out_the_labels():
    labels = [f"d{i:02d}" for i in range(30)]
    root = parse(bar_chart("c", "t", labels, [Series("", [float(i) for i in range(30)])]))
    values = [e for e in root.iter(f"{SVG}text") if e.get("class") == "value"]
    assert len(values) == 29  # every non-zero day keeps its number
    assert all((e.get("transform") or "").startswith("rotate(-90") for e in values)
    shown = texts(root, "label")
    assert 4 <= len(shown) <= 10 and shown[-1] == "d29"


def test_an_empty_chart_says_so():
    for svg in (
        bar_chart("c", "Nothing", ["a", "b"], [Series("x", [0, 0])]),
        bar_chart("c", "Nothing", [], []),
        line_chart("l", "Nothing", ["a"], []),
    ):
        root = parse(svg)
        assert texts(root, "empty") == ["no data yet"]
        assert root.find(f"{SVG}desc").text == "no data"  # type: ignore[union-attr]
        assert bars(root) == []


def test_side_by_side_bars_print_each_value():
    root = parse(
        bar_chart(
            "p",
            "Percentiles",
            ["kimi-k2"],
            [Series("p50", [300]), Series("p90", [800]), Series("p99", [1200])],
            stacked=False,
        )
    )
    assert texts(root, "value") == ["300", "800", "1,200"]
    heights = [float(b.get("height")) for b in bars(root)]
    assert heights == sorted(heights) and heights[2] == pytest.approx(heights[0] * 4, rel=0.02)


def test_a_line_chart_prints_its_last_value_and_has_a_point_per_label():
    root = parse(line_chart("b", "Balance", ["a", "b", "c"], [Series("available", [50, 40, 35])]))
    points = [e for e in root.iter(f"{SVG}circle") if e.get("class") == "point"]
    assert [float(p.get("data-value")) for p in points] == [50, 40, 35]
    assert texts(root, "value") == ["35"]
    assert root.find(f"{SVG}desc").text == "available: 35"  # type: ignore[union-attr]


def test_more_series_than_colours_fold_into_others():
    many = [Series(f"user{i}", [float(i)]) for i in range(12)]
    kept = top_series(many)
    assert len(kept) == len(PALETTE)
    assert kept[0].name == "user11" and kept[-1].name == OTHERS
    assert sum(s.values[0] for s in kept) == sum(range(12))


def test_a_meter_shows_the_share_and_turns_red_near_the_limit():
    root = parse(meter("m", "RPM", 45, 50, width=202))
    fill = next(e for e in root.iter(f"{SVG}rect") if e.get("class") == "fill")
    assert float(fill.get("width")) == pytest.approx(180)
    assert fill.get("fill") == "#ef4444"
    assert texts(root, "value") == ["45 / 50 (90%)"]
    over = parse(meter("m", "RPM", 80, 50, width=202))
    fill = next(e for e in over.iter(f"{SVG}rect") if e.get("class") == "fill")
    assert float(fill.get("width")) == pytest.approx(200)  # full, not past the frame
