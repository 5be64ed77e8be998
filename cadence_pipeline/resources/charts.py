"""Twelve-week trend charts for the digest, drawn with matplotlib's Agg backend to PNG."""

from collections.abc import Mapping, Sequence
from io import BytesIO
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt


def pass_rate_trend_png(
    rows: Sequence[Mapping[str, Any]], weeks: Sequence[str], threshold: float
) -> bytes:
    """Draw each source's weekly pass rate over `weeks` with the standard as a dashed line.

    Weeks where a source had no evaluated lead are gaps. Sources whose rate is never known
    are left out.
    """
    by_source: dict[str, dict[str, float]] = {}
    for row in rows:
        if row["pass_rate"] is not None and row["week"] in weeks:
            by_source.setdefault(row["source"], {})[row["week"]] = row["pass_rate"]
    figure, axis = plt.subplots(figsize=(9, 4.5), dpi=100)
    positions = range(len(weeks))
    for source, rates in sorted(by_source.items()):
        values = [rates.get(week, float("nan")) for week in weeks]
        axis.plot(positions, values, marker="o", markersize=3, linewidth=1.2, label=source)
    axis.axhline(threshold, color="grey", linestyle="--", linewidth=1, label="default standard")
    axis.set_xticks(list(positions), [week[5:] for week in weeks], rotation=45, fontsize=8)
    axis.set_ylim(0, 1.02)
    axis.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    axis.set_title("Validation pass rate by source, by ISO week")
    axis.legend(fontsize=7, loc="lower left", ncol=2)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    buffer = BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()
