"""A realistic asset list for demos and benchmarks: `synapse demo-data --rows N`.

Rows look like a plant's instrument and equipment index: ISA-style tags (`P-1001A`, `FT-2015`),
types, areas, services, ratings, makers (some with non-ASCII names), free-text descriptions
with commas and quotes, and a few empty cells. The same seed gives the same file.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

# (type, tag prefix, unit of the rating column, rating range)
KINDS = (
    ("Pump", "P", "kW", (1.5, 315.0)),
    ("Motor", "M", "kW", (0.37, 450.0)),
    ("Valve", "XV", "", (0, 0)),
    ("Control Valve", "FV", "", (0, 0)),
    ("Flow Transmitter", "FT", "", (0, 0)),
    ("Pressure Transmitter", "PT", "", (0, 0)),
    ("Level Transmitter", "LT", "", (0, 0)),
    ("Temperature Element", "TE", "", (0, 0)),
    ("Heat Exchanger", "E", "kW", (50.0, 5000.0)),
    ("Compressor", "K", "kW", (30.0, 2500.0)),
)
MAKERS = ("ABB", "Siemens", "Emerson", "Endress+Hauser", "Yokogawa", "WEG", "Grundfos",
          "KSB", "Flowserve", "Ölpumpen Müller GmbH", "Vega", "Krohne")  # fmt: skip
SERVICES = ("Cooling water supply", "Cooling water return", "Crude feed", "Condensate",
            "Instrument air", "Fire water", "Boiler feed water", "Flare knock-out drum",
            "Product rundown", "Chemical dosing")  # fmt: skip
HEADER = ["tag", "type", "description", "area", "service", "p&id", "manufacturer", "model",
          "power_kw", "voltage", "range", "commissioned"]  # fmt: skip


def asset_row(i: int, rng: random.Random) -> list[str]:
    kind, prefix, unit, (low, high) = KINDS[i % len(KINDS)]
    area = 100 * (1 + i % 9)
    tag = f"{prefix}-{area + i // len(KINDS) % 100:04d}{'ABCDEFGH'[i // 1000 % 8]}{i // 8000 or ''}"
    service = rng.choice(SERVICES)
    maker = rng.choice(MAKERS)
    power = f"{rng.uniform(low, high):.1f}" if unit else ""
    description = f"{kind} for {service.lower()}, area {area}"
    if i % 7 == 0:
        description += '; "spare" held in stores, see maintenance plan'
    span = rng.choice((10, 16, 25, 40, 100))
    return [
        tag,
        kind,
        description,
        f"Area {area}",
        service,
        f"PID-{area}-{i % 40:03d}",
        maker,
        f"{maker.split()[0][:3].upper()}-{rng.randint(100, 9999)}",
        power,
        rng.choice(("400 V", "690 V", "6.6 kV")) if power else "",
        "" if unit else f"0..{span} bar",
        f"20{rng.randint(10, 26):02d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
    ]


def write_assets_csv(path: Path, rows: int, *, seed: int = 1) -> int:
    """Write `rows` asset rows (plus the header) to `path`; returns the number of bytes."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i in range(rows):
            writer.writerow(asset_row(i, rng))
    return path.stat().st_size
