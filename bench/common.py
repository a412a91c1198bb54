"""What every benchmark prints the same way: percentiles, the machine, pass/miss."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import sys
import traceback
from collections.abc import Coroutine, Mapping
from typing import Any


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile, no interpolation (p99 of 200 samples is the 198th smallest)."""
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            return next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                "unknown CPU",
            )
    except OSError:
        return "unknown CPU"


def machine(*versions: str) -> str:
    """CPUs usable by this process, CPU model, and the versions that shape the figures."""
    cpus = len(os.sched_getaffinity(0))
    parts = [
        f"{cpus} CPUs (nproc)",
        cpu_model(),
        f"{platform.system()} {platform.machine()}",
        f"CPython {platform.python_version()}",
        *versions,
    ]
    return ", ".join(parts)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def sized(args: argparse.Namespace, table: Mapping[str, tuple[Any, Any]]) -> dict[str, Any]:
    """Each size knob as given, else its default, or its ``--quick`` value with ``--quick``."""
    return {
        name: getattr(args, name) if getattr(args, name) is not None else pair[int(args.quick)]
        for name, pair in table.items()
    }


def run_benchmark(run: Coroutine[Any, Any, object]) -> int:
    """Run a benchmark; a run that fails says where and exits non-zero (so does one returning
    False: a figure it checks was wrong)."""
    try:
        sound = asyncio.run(run)
    except Exception:
        print("\nbenchmark run failed:", file=sys.stderr)
        traceback.print_exc()
        return 1
    return 1 if sound is False else 0
