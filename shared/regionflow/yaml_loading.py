"""YAML parsing for stack configs, buildspecs and the exceptions file, with libyaml when it is there.

PyYAML's pure-Python loader takes about 10 ms per stack config; the offline preview parses some twenty
files per run, so the C loader (same safe semantics) takes a visible share off every preview.
"""

from __future__ import annotations

from typing import Any

import yaml

_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """``yaml.safe_load``, through libyaml when PyYAML was built with it."""
    # _SAFE_LOADER is SafeLoader or CSafeLoader: no arbitrary objects are constructed (ruff S506, bandit B506).
    return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 # nosec B506
