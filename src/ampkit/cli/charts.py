"""Time series drawn for people: in the terminal (unicode blocks, no extra dependency) and as a
PNG (matplotlib, the ``charts`` extra)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text

BLOCKS = " ▁▂▃▄▅▆▇█"
COLORS = ("cyan", "magenta", "green", "yellow", "blue", "red")

Series = tuple[str, Sequence[float | None]]


def _finite(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def terminal_chart(title: str, x: Sequence[str], series: Sequence[Series],
                   height: int = 8) -> Group:
    """One column per x value, ``height`` rows of unicode blocks, one colour per series
    (series are drawn one under the other so none hides another)."""
    parts: list[Table | Text] = [Text(title, style="bold")]
    for n, (label, values) in enumerate(series):
        finite = _finite(values)
        top = max(finite, default=0.0) or 1.0
        color = COLORS[n % len(COLORS)]
        grid = Table.grid(padding=0)
        grid.add_column(justify="right", width=10)
        grid.add_column()
        levels = [0 if v is None or not math.isfinite(v) else round(max(v, 0) / top * height * 8)
                  for v in values]
        for row in range(height, 0, -1):
            line = "".join(
                BLOCKS[min(8, max(0, level - (row - 1) * 8))] for level in levels)
            axis = f"{top:,.6g} " if row == height else ("0 " if row == 1 else "")
            grid.add_row(Text(axis, style="dim"), Text(line, style=color))
        parts.append(Text(f"■ {label}", style=color))
        parts.append(grid)
    if x:
        span = f"{x[0]} … {x[-1]}" if len(x) > 1 else x[0]
        parts.append(Text(" " * 10 + f"{span}  ({len(x)} points)", style="dim"))
    return Group(*parts)


def png_chart(path: Path, title: str, x: Sequence[str], series: Sequence[Series],
              width: int = 960, height: int = 540) -> Path:
    """A line chart written to ``path`` as a ``width`` × ``height`` PNG."""
    try:
        import matplotlib  # type: ignore[import-untyped, unused-ignore]
    except ImportError as exc:
        raise RuntimeError("PNG charts need matplotlib: pip install 'ampkit[charts]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-untyped, unused-ignore]

    dpi = 100
    fig, ax = plt.subplots(figsize=(width / dpi, height / dpi), dpi=dpi)
    try:
        positions = list(range(len(x)))
        for label, values in series:
            ys = [math.nan if v is None else v for v in values]
            ax.plot(positions, ys, marker="o", markersize=3, label=label)
        step = max(1, len(x) // 10)
        ax.set_xticks(positions[::step], [str(v) for v in x][::step], rotation=30, ha="right")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend(loc="best", fontsize="small")
        fig.tight_layout()
        fig.savefig(path, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    return path
