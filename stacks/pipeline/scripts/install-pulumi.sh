#!/usr/bin/env bash
# Installs the exact Pulumi CLI release the project pins (PULUMI_VERSION) into ~/.pulumi/bin, and checks it.
set -euo pipefail
# shellcheck source=stacks/pipeline/scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require PULUMI_VERSION

installer="$(mktemp)"
# Downloaded first, then run: a failed download fails here instead of piping an error page into sh.
curl -fsSL https://get.pulumi.com -o "${installer}"
sh "${installer}" --version "${PULUMI_VERSION}" --no-edit-path
installed="$(pulumi version)"
if [ "${installed}" != "v${PULUMI_VERSION}" ]; then
  echo "regionflow: installed Pulumi CLI ${installed}, expected v${PULUMI_VERSION}" >&2
  exit 1
fi
