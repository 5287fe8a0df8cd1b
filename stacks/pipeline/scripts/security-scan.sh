#!/usr/bin/env bash
# The SecurityScan stage's commands, defined once: the stage (buildspecs/security-scan.yml) and `tox -e security`
# both run this file from the repository root, so what the pipeline checks is what every developer checks.
#
# PIP_AUDIT_MODE=strict (the default, and what the stage sets): every pinned package must be audited, and any
#   known vulnerability or any package pip-audit cannot check fails the scan (`pip-audit --strict`).
# PIP_AUDIT_MODE=reachable (what tox sets): for machines that cannot reach pip-audit's advisory source (the PyPI
#   JSON API per release, https://pypi.org/pypi/<name>/<version>/json; this project's development hosts answer
#   404 for every pinned release), packages it cannot check are listed and skipped, and a known vulnerability
#   still fails.
set -euo pipefail
cd "$(dirname "$0")/../../.."

# Tests assert with `assert` (B101) by design; every other finding fails, whatever its severity.
bandit --recursive shared/regionflow functions stacks --exclude '*/tests/*' --skip B101 --severity-level low

case "${PIP_AUDIT_MODE:-strict}" in
  strict) pip-audit --strict --requirement constraints.txt ;;
  reachable) pip-audit --requirement constraints.txt ;;
  *) echo "security-scan: PIP_AUDIT_MODE must be strict or reachable, not '${PIP_AUDIT_MODE}'" >&2; exit 2 ;;
esac
