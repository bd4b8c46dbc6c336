"""Where the benchmarks write their figures: never into the tracked tree unless asked.

Every benchmark takes `--out PATH`: the JSON file its figures are saved to. Without it they
go to build/bench/<name>-<time>.json (build/ is git-ignored). bench.scale's EXPLAIN plans go
to build/bench/plans/ unless `--plans DIR` says otherwise; the tracked bench/plans/*.txt are
the README's reference plans and are rewritten only with `--plans bench/plans`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "build" / "bench"


def add_out_argument(parser: argparse.ArgumentParser, name: str) -> None:
    """Add --out, the JSON file the figures of benchmark `name` are saved to."""
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"JSON file for the figures (default: build/bench/{name}-<time>.json)",
    )


def out_path(given: Path | None, name: str) -> Path:
    """Return the file the figures go to: the one given, else a new one in build/bench/."""
    if given is not None:
        return given
    return OUT_DIR / f"{name}-{dt.datetime.now():%Y%m%d-%H%M%S}.json"


def _clean(value: Any) -> Any:
    """Return a value JSON can hold (NaN and infinities become null)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def save(given: Path | None, name: str, payload: dict) -> Path:
    """Write the figures as JSON (with the benchmark's name and the time) and say where."""
    path = out_path(given, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"benchmark": name, "at": dt.datetime.now().isoformat(timespec="seconds")}
    document.update(_clean(payload))
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False, default=str), "utf-8")
    print(f"\nfigures saved to {_shown(path)}", flush=True)
    return path


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)
