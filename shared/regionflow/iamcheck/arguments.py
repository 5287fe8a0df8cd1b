"""The ``regionflow iam-check`` command line, apart from the check itself.

Every ``regionflow`` command builds the whole argument parser, ``preview`` too; this module keeps that
from importing the check's evaluation, its requirement tables and the manifest model (about 30 ms).
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_SCOPE = Path(__file__).with_name("scope.yaml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifests", type=Path, help="manifest folder (default: <root>/.regionflow/preview)")
    parser.add_argument("--root", type=Path, help="repository root (default: found from the current folder)")
    parser.add_argument(
        "--boundary",
        action="append",
        default=[],
        metavar="ARN=FILE",
        help="a permissions boundary's JSON document, for a boundary that is not in the manifests (repeatable)",
    )
    parser.add_argument(
        "--scope", type=Path, default=DEFAULT_SCOPE, help="what the jobs deliberately do not do (default: scope.yaml)"
    )
    parser.add_argument("--strict", action="store_true", help="also fail on possibly missing and unevaluated")
    parser.add_argument("--no-slack", action="store_true", help="do not list grants no job needs")
