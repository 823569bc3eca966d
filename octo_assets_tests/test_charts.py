from decimal import Decimal

from octo_assets.charts import bar_chart


def test_bars_are_proportional_to_the_largest_value():
    chart = bar_chart(["00:00", "00:30", "01:00"], [8.0, 2.0, 0.0], width=8)
    assert chart.splitlines()[1:-1] == [
        "00:00 │████████ 8.000 kWh",
        "00:30 │██ 2.000 kWh",
        "01:00 │ 0.000 kWh",
    ]


def test_fractions_of_a_block_use_eighths():
    assert bar_chart(["a", "b"], [8.0, 1.0], width=2).splitlines()[2] == "b │▎ 1.000 kWh"


def test_exact_decimal_kwh_and_a_day_of_zeros_draw_too():
    assert bar_chart(["a", "b"], [Decimal("2.000"), Decimal("0.500")], width=4).splitlines()[2] == "b │█ 0.500 kWh"
    assert bar_chart(["a"], [Decimal("0.000")]).splitlines()[1] == "a │ 0.000 kWh"
