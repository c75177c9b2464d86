"""Where the numbers came from: date, machine, Python and package versions, machine load."""

from __future__ import annotations

import datetime
import os
import platform
from importlib import metadata

_PACKAGES = (
    "exotel-trunking",
    "httpx2",
    "httpcore2",
    "h11",
    "anyio",
    "attrs",
    "cattrs",
    "aiohttp",
    "httpx-aiohttp",
    "httpx",  # the bulk case's contrast row only: not a dependency of the SDK
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory() -> str:
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return "unknown memory"
    return f"{pages * page_size / 2**30:.0f} GiB"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def describe() -> list[tuple[str, str]]:
    """(label, value) pairs describing this run."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    versions = ", ".join(
        f"{name} {_version(name)}{' (bench only)' if name == 'httpx' else ''}" for name in _PACKAGES
    )
    return [
        ("date", now),
        (
            "machine",
            f"{platform.system()} {platform.machine()}, {_cpu_model()}, "
            f"{os.cpu_count()} cores, {_memory()}",
        ),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("versions", versions),
        ("load average at start (1, 5, 15 min)", load_average()),
    ]
