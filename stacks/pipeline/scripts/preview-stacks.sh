#!/usr/bin/env bash
# Preview stage: `pulumi preview` of every stack with the project's policy pack. Every stack is previewed,
# then the build fails if any preview failed (a mandatory policy violation makes `pulumi preview` exit
# non-zero). A preview takes no stack lock in the self-managed backend, so it never blocks a deploy
# (pulumi/pulumi pkg/backend/diy/backend.go: Preview runs without b.Lock).
#
# Set by the project: PULUMI_BACKEND_URL, PULUMI_SECRETS_PROVIDER, PREVIEW_STACKS ("<folder>:<qualified
# stack>" separated by spaces: every regional stack, then the pipeline stack).
set -euo pipefail
# shellcheck source=stacks/pipeline/scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require PULUMI_BACKEND_URL PULUMI_SECRETS_PROVIDER PREVIEW_STACKS

pulumi login "${PULUMI_BACKEND_URL}"
folders=()
for entry in ${PREVIEW_STACKS}; do folders+=("${entry%%:*}"); done
install_projects "${folders[@]}"
install_policy_pack

failed=""
for entry in ${PREVIEW_STACKS}; do
  folder="${entry%%:*}"
  stack="${entry#*:}"
  echo "=== pulumi preview ${stack} (${folder})"
  if check_secrets_provider "${folder}" "${stack}" &&
    pulumi preview --cwd "${REPO_ROOT}/${folder}" --stack "${stack}" \
      --policy-pack "${REPO_ROOT}/${POLICY_PACK_DIR}" --non-interactive --diff --suppress-outputs; then
    echo "=== ${stack}: ok"
  else
    echo "=== ${stack}: FAILED"
    failed="${failed} ${stack}"
  fi
done
if [ -n "${failed}" ]; then
  echo "regionflow: preview failed for:${failed}" >&2
  exit 1
fi
