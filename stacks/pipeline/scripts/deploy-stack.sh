#!/usr/bin/env bash
# DeployPrimary / DeploySecondaries: `pulumi up` of one regional stack, in that stack's region.
#
# Set by the project: PULUMI_BACKEND_URL, PULUMI_SECRETS_PROVIDER, STACK_DIR (e.g. stacks/secondary),
# STACK_NAME (organization/<project>/<stack>). The program derives everything else from the committed
# config and the naming (the permissions boundary included): what runs here is what a region owner's
# `pulumi up` by hand runs. Nothing here writes config.
#
# The stack lock: `pulumi up` fails at once when another update holds the stack's lock (a region owner's
# hand deploy), with no retry (pulumi/pulumi pkg/backend/diy/lock.go checkForLock). A failed deploy would
# roll the stage back, so the build first waits, up to LOCK_WAIT_SECONDS, for the stack's lock folder
# (.pulumi/locks/organization/<project>/<stack>/) to empty. Previews (drift detection, the Preview stage,
# pull requests) take no lock and never block a deploy.
#
# Retry: a failed `pulumi up` runs once more (DEPLOY_ATTEMPTS, set by the project: 2 with autoRetry, else 1)
# after RETRY_PAUSE_SECONDS, before the build fails and the stage rolls back. CodePipeline cannot do both for
# one stage: a stage's onFailure has one result, ROLLBACK or RETRY (regionflow.delivery). A second `pulumi up`
# converges from whatever the first one left (its state records every completed step), which is how transient
# failures such as IAM's eventual consistency are recovered by hand.
set -euo pipefail
# shellcheck source=stacks/pipeline/scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require PULUMI_BACKEND_URL PULUMI_SECRETS_PROVIDER STACK_DIR STACK_NAME
LOCK_WAIT_SECONDS="${LOCK_WAIT_SECONDS:-900}"
LOCK_POLL_SECONDS="${LOCK_POLL_SECONDS:-30}"
DEPLOY_ATTEMPTS="${DEPLOY_ATTEMPTS:-1}"
RETRY_PAUSE_SECONDS="${RETRY_PAUSE_SECONDS:-30}"

check_secrets_provider "${STACK_DIR}" "${STACK_NAME}"
write_target_profiles
pulumi login "${PULUMI_BACKEND_URL}"
install_projects "${STACK_DIR}"
# Stacks are created by a person (`pulumi stack init --secrets-provider ...`), never here.
pulumi stack select "${STACK_NAME}" --cwd "${REPO_ROOT}/${STACK_DIR}"

bucket="${PULUMI_BACKEND_URL#s3://}"
bucket="${bucket%%\?*}"
backend_region="${PULUMI_BACKEND_URL#*region=}"
backend_region="${backend_region%%&*}"
lock_prefix=".pulumi/locks/${STACK_NAME}/"
waited=0
while :; do
  locks="$(aws s3api list-objects-v2 --region "${backend_region}" --bucket "${bucket}" --prefix "${lock_prefix}" --query 'KeyCount' --output text)"
  if [ "${locks}" = "0" ]; then
    break
  fi
  if [ "${waited}" -ge "${LOCK_WAIT_SECONDS}" ]; then
    echo "regionflow: ${STACK_NAME} is still locked after ${waited}s (s3://${bucket}/${lock_prefix}); another" \
      "update is running or crashed. Fix: wait for it, or run \`pulumi cancel --stack ${STACK_NAME}\`" >&2
    exit 1
  fi
  echo "=== ${STACK_NAME} is locked by another update; waiting (${waited}s of ${LOCK_WAIT_SECONDS}s)"
  sleep "${LOCK_POLL_SECONDS}"
  waited=$((waited + LOCK_POLL_SECONDS))
done

attempt=1
until pulumi up --yes --non-interactive --diff --cwd "${REPO_ROOT}/${STACK_DIR}" --stack "${STACK_NAME}"; do
  status=$?
  if [ "${attempt}" -ge "${DEPLOY_ATTEMPTS}" ]; then
    echo "regionflow: pulumi up of ${STACK_NAME} failed (attempt ${attempt} of ${DEPLOY_ATTEMPTS}); the stage" \
      "rolls back to its last successful execution" >&2
    exit "${status}"
  fi
  echo "=== pulumi up of ${STACK_NAME} failed (attempt ${attempt} of ${DEPLOY_ATTEMPTS}); again in ${RETRY_PAUSE_SECONDS}s"
  sleep "${RETRY_PAUSE_SECONDS}"
  attempt=$((attempt + 1))
done
