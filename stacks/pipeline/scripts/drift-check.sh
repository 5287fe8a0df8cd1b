#!/usr/bin/env bash
# Nightly drift detection (regionflow.components.pipeline.drift.DriftDetection).
#
# For every stack in DRIFT_STACKS ("<project folder>:<stack>" separated by spaces) this runs
#   pulumi preview --refresh --expect-no-changes
# which reads the live resources (refresh in memory only) and fails when the refreshed state differs from
# the program. A preview takes no stack lock in the self-managed backend (pulumi/pulumi
# pkg/backend/diy/backend.go: Preview runs without b.Lock), so the nightly run can never make a deploy fail;
# `pulumi refresh` would lock, and is never run here. A stack that drifted, or that could not be previewed,
# is listed in one message to DRIFT_TOPIC_ARN, and the build fails so the build history shows the result.
#
# Set by the project: PULUMI_BACKEND_URL, PULUMI_SECRETS_PROVIDER, DRIFT_STACKS, DRIFT_TOPIC_ARN,
# DRIFT_PROJECT_NAME. The build role is read-only for the stacks' resources and their state.
set -euo pipefail
# shellcheck source=stacks/pipeline/scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require PULUMI_BACKEND_URL PULUMI_SECRETS_PROVIDER DRIFT_STACKS DRIFT_TOPIC_ARN DRIFT_PROJECT_NAME

write_target_profiles
pulumi login "${PULUMI_BACKEND_URL}"
folders=()
for entry in ${DRIFT_STACKS}; do folders+=("${entry%%:*}"); done
install_projects "${folders[@]}"

drifted=""
for entry in ${DRIFT_STACKS}; do
  folder="${entry%%:*}"
  stack="${entry#*:}"
  echo "=== drift check: ${folder} ${stack}"
  if check_secrets_provider "${folder}" "${stack}" &&
    pulumi preview --cwd "${REPO_ROOT}/${folder}" --stack "${stack}" --refresh --expect-no-changes \
      --non-interactive --diff --suppress-outputs; then
    echo "=== ${folder} ${stack}: no drift"
  else
    echo "=== ${folder} ${stack}: DRIFTED (or the preview failed)"
    drifted="${drifted} ${folder}:${stack}"
  fi
done
if [ -n "${drifted}" ]; then
  topic_region="$(echo "${DRIFT_TOPIC_ARN}" | cut -d: -f4)"
  aws sns publish --region "${topic_region}" --topic-arn "${DRIFT_TOPIC_ARN}" \
    --subject "regionflow drift detected" \
    --message "Drift detection (${DRIFT_PROJECT_NAME}, build ${CODEBUILD_BUILD_ID:-local}) found stacks whose live resources differ from their programs, or could not be previewed:${drifted}. Log stream: ${CODEBUILD_LOG_PATH:-see the CodeBuild console}."
  echo "drift detected in:${drifted}" >&2
  exit 1
fi
echo "no drift in any stack"
