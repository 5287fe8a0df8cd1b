#!/usr/bin/env bash
# UpdatePipeline stage (opt-in): the pipeline applies its own stack, without ever looping.
#
# 1. `pulumi preview --expect-no-changes` of the pipeline stack. No changes: the stage succeeds and the
#    execution goes on to the approval.
# 2. Changes: `pulumi up` applies them, then this execution starts a new execution of the SAME source
#    revision and stops itself (without abandoning this action, so it ends cleanly). The pipeline is
#    QUEUED, so the new execution runs after this one has stopped, with the new definition. There it
#    reaches step 1 again, and since the stack was just applied for that very revision, the preview shows
#    no changes: each revision restarts the pipeline at most once.
#
# Set by the project: PULUMI_BACKEND_URL, PULUMI_SECRETS_PROVIDER, STACK_DIR, STACK_NAME, PIPELINE_NAME,
# SOURCE_ACTION, REVISION_TYPE; by the action: PIPELINE_EXECUTION_ID, SOURCE_REVISION.
set -euo pipefail
# shellcheck source=stacks/pipeline/scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require PULUMI_BACKEND_URL PULUMI_SECRETS_PROVIDER STACK_DIR STACK_NAME PIPELINE_NAME SOURCE_ACTION \
  REVISION_TYPE PIPELINE_EXECUTION_ID SOURCE_REVISION

check_secrets_provider "${STACK_DIR}" "${STACK_NAME}"
pulumi login "${PULUMI_BACKEND_URL}"
install_projects "${STACK_DIR}"
pulumi stack select "${STACK_NAME}" --cwd "${REPO_ROOT}/${STACK_DIR}"

if pulumi preview --expect-no-changes --non-interactive --suppress-outputs --cwd "${REPO_ROOT}/${STACK_DIR}" \
  --stack "${STACK_NAME}"; then
  echo "the pipeline definition is up to date"
  exit 0
fi
pulumi up --yes --non-interactive --diff --cwd "${REPO_ROOT}/${STACK_DIR}" --stack "${STACK_NAME}"
aws codepipeline start-pipeline-execution --name "${PIPELINE_NAME}" \
  --source-revisions "actionName=${SOURCE_ACTION},revisionType=${REVISION_TYPE},revisionValue=${SOURCE_REVISION}"
aws codepipeline stop-pipeline-execution --pipeline-name "${PIPELINE_NAME}" \
  --pipeline-execution-id "${PIPELINE_EXECUTION_ID}" --no-abandon \
  --reason "pipeline updated by ${CODEBUILD_BUILD_ID:-a build}; restarted with the new definition"
