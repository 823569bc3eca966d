"""Text charts for the Dagster UI: Markdown renders them anywhere, no plotting library needed."""

from collections.abc import Sequence

BLOCKS = " ▏▎▍▌▋▊▉█"


def bar_chart(labels: Sequence[str], values: Sequence[float], width: int = 40, unit: str = "kWh") -> str:
    """A horizontal bar chart as a Markdown code block, one bar per label."""
    if not values:
        return "_no data_"
    peak = max(values) or 1  # kWh may be Decimal: no float here
    label_width = max(len(label) for label in labels)
    lines = [
        f"{label:>{label_width}} │{_bar(value / peak * width)} {value:,.3f} {unit}"
        for label, value in zip(labels, values)
    ]
    return "```\n" + "\n".join(lines) + "\n```"


def _bar(length: float) -> str:
    full, eighths = divmod(round(length * 8), 8)
    return "█" * full + (BLOCKS[eighths] if eighths else "")
