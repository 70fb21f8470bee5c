"""Asset CSV files for tests."""

from __future__ import annotations

TYPES = ("Motor", "Pump", "Transmitter", "Valve")


def assets_csv(rows: int, *, prefix: str = "P", start: int = 0, sep: str = ",") -> bytes:
    lines = [sep.join(["tag", "type", "power_kw", "area", "description"])]
    for i in range(start, start + rows):
        lines.append(
            sep.join([f"{prefix}-{i:06d}", TYPES[i % 4], str(i % 90 + 1), f"A{i % 7}", f"item {i}"])
        )
    return ("\n".join(lines) + "\n").encode()
