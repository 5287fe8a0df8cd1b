#!/usr/bin/env bash
# Preview stage: `pulumi preview` of every stack with the project's policy pack, then the IAM gate's decision.
# Every stack is previewed, then the build fails if any preview failed (a mandatory policy violation makes
# `pulumi preview` exit non-zero). A preview takes no stack lock in the self-managed backend, so it never blocks
# a deploy (pulumi/pulumi pkg/backend/diy/backend.go: Preview runs without b.Lock).
#
# Each preview writes its `--json` digest (pulumi/pulumi sdk/go/common/display/json.go PreviewDigest; the JSON
# goes to stdout, progress to stderr, PR pulumi/pulumi#2658; --suppress-outputs leaves the stack outputs out of it,
# PR pulumi/pulumi#2771). `python3 -m regionflow.preview_iam` reads them all
# and writes true or false to IAM_CHANGES_FILE: whether any stack would create, change or delete an IAM resource
# or a resource policy. buildspecs/preview.yml exports it as IAM_CHANGES, the Approval stage's condition reads it
# (regionflow.delivery). The digest leaves out policy-violation events, so a failed preview is run once more
# without --json to print why it failed.
#
# Set by the project: PULUMI_BACKEND_URL, PULUMI_SECRETS_PROVIDER, PREVIEW_STACKS ("<folder>:<qualified
# stack>" separated by spaces: every regional stack, then the pipeline stack), BOUNDARY_ARN.
set -euo pipefail
# shellcheck source=stacks/pipeline/scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require PULUMI_BACKEND_URL PULUMI_SECRETS_PROVIDER PREVIEW_STACKS BOUNDARY_ARN
IAM_CHANGES_FILE="${IAM_CHANGES_FILE:-${REPO_ROOT}/.regionflow/iam-changes}"
digests="$(mktemp -d)"
rm -f "${IAM_CHANGES_FILE}"

write_target_profiles
pulumi login "${PULUMI_BACKEND_URL}"
folders=()
for entry in ${PREVIEW_STACKS}; do folders+=("${entry%%:*}"); done
install_projects "${folders[@]}"
install_policy_pack

# The account's permissions boundary (regionflow.boundary) must be the one this commit's roles need: bootstrap
# writes it and never changes it without --update-boundary, and an outdated one would only show later as
# AccessDenied in a deploy. IAM is global; get-policy-version returns the document decoded.
version="$(aws iam get-policy --policy-arn "${BOUNDARY_ARN}" --query Policy.DefaultVersionId --output text)"
aws iam get-policy-version --policy-arn "${BOUNDARY_ARN}" --version-id "${version}" \
  --query PolicyVersion.Document --output json >"${digests}/boundary.json"
# The pipeline project's virtualenv holds regionflow (pulumi install above).
"${REPO_ROOT}/stacks/pipeline/venv/bin/python" -m regionflow.boundary_check --arn "${BOUNDARY_ARN}" \
  --actual "${digests}/boundary.json"

failed=""
previews=()
index=0
for entry in ${PREVIEW_STACKS}; do
  folder="${entry%%:*}"
  stack="${entry#*:}"
  index=$((index + 1))
  digest="${digests}/${index}.json"
  echo "=== pulumi preview ${stack} (${folder})"
  if check_secrets_provider "${folder}" "${stack}" &&
    pulumi preview --cwd "${REPO_ROOT}/${folder}" --stack "${stack}" \
      --policy-pack "${REPO_ROOT}/${POLICY_PACK_DIR}" --non-interactive --suppress-outputs --json >"${digest}"; then
    echo "=== ${stack}: ok"
    previews+=("${stack}=${digest}")
  else
    echo "=== ${stack}: FAILED; its preview again, readable:"
    # The stack has failed already; this run only prints why (policy violations are not in the JSON digest).
    pulumi preview --cwd "${REPO_ROOT}/${folder}" --stack "${stack}" \
      --policy-pack "${REPO_ROOT}/${POLICY_PACK_DIR}" --non-interactive --diff --suppress-outputs ||
      echo "=== ${stack}: the readable preview failed as well"
    failed="${failed} ${stack}"
  fi
done
if [ -n "${failed}" ]; then
  echo "regionflow: preview failed for:${failed}" >&2
  exit 1
fi
# Stdlib only: the repository's own package, before any virtualenv has it.
PYTHONPATH="${REPO_ROOT}/shared" python3 -m regionflow.preview_iam --out "${IAM_CHANGES_FILE}" "${previews[@]}"
