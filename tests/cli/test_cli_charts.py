"""Charts: a valid PNG of the asked size; a terminal chart whose bars follow the values."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from rich.console import Console

from ampkit.cli.charts import png_chart, terminal_chart

X = [f"2024-03-{d:02d}" for d in range(1, 8)]


def test_png_is_a_valid_image_of_the_expected_size(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = png_chart(tmp_path / "dau.png", "Active users", X,
                     [("iOS", [1, 4, 9, 16, 25, 36, 49]), ("Web", [3, 3, None, 3, 3, 3, 3])],
                     width=800, height=400)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (800, 400)
    assert zlib.crc32(data[12:29]) == struct.unpack(">I", data[29:33])[0]  # IHDR checksum
    assert data.rstrip().endswith(b"IEND\xaeB`\x82")


def test_terminal_chart_bars_follow_the_values() -> None:
    console = Console(record=True, width=100, color_system=None)
    console.print(terminal_chart("Totals", X, [("all", [0, 1, 2, 4, 8, 4, 0])], height=4))
    text = console.export_text()
    rows = [line[10:17] for line in text.splitlines() if "█" in line or "▁" in line
            or line[10:17].strip()]
    assert "Totals" in text and "■ all" in text and "7 points" in text
    top = next(line for line in text.splitlines() if line.strip().startswith("8 "))
    assert top[10:17][4] == "█"  # the peak reaches the top row
    assert top[10:17][0] == " " and top[10:17][6] == " "  # zeros do not
    assert rows
