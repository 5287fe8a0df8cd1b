# shellcheck shell=bash
# Shared by the pipeline's build scripts (sourced, never run). Every path is made absolute from the
# repository root, because `pulumi --cwd DIR` changes directory before it resolves any other path
# argument, `--policy-pack` included (pulumi/pulumi pkg/cmd/pulumi/pulumi.go; pulumi-policy#251).

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
# Where scripts/install-pulumi.sh puts the CLI (the get.pulumi.com installer's default).
export PATH="${HOME}/.pulumi/bin:${PATH}"
export PULUMI_SKIP_UPDATE_CHECK=true
# The policy pack the Preview stage and the pull-request previews run (relative to the repository root).
POLICY_PACK_DIR="shared/regionflow/policies/pack"

require() {
  # One line naming the missing variable: the project (regionflow.components.pipeline) sets them all.
  local name
  for name in "$@"; do
    if [ -z "${!name:-}" ]; then
      echo "regionflow: environment variable ${name} is not set; the CodeBuild project must set it" >&2
      exit 2
    fi
  done
}

stack_file() {
  # The stack config file of "<folder> organization/<project>/<stack>": <folder>/Pulumi.<stack>.yaml.
  echo "${REPO_ROOT}/$1/Pulumi.${2##*/}.yaml"
}

check_secrets_provider() {
  # A self-managed stack names its secrets provider in its stack file (`secretsprovider:` and
  # `encryptedkey:`, written by `pulumi stack init --secrets-provider`). Without them the CLI falls back to
  # the passphrase provider and asks for PULUMI_CONFIG_PASSPHRASE (pulumi/pulumi pkg/cmd/pulumi/stack/
  # secrets.go GetSecretsManager); it never reads the provider from the state unless told to (#17236).
  local file provider
  file="$(stack_file "$1" "$2")"
  if [ ! -f "${file}" ]; then
    echo "regionflow: ${file#"${REPO_ROOT}"/} does not exist; the stack $2 has no config in this commit" >&2
    return 1
  fi
  provider="$(sed -n 's/^secretsprovider:[[:space:]]*//p' "${file}" | tr -d "\"'")"
  if [ "${provider}" != "${PULUMI_SECRETS_PROVIDER}" ] || ! grep -q '^encryptedkey:' "${file}"; then
    echo "regionflow: ${file#"${REPO_ROOT}"/} names secrets provider '${provider:-none}', expected" \
      "'${PULUMI_SECRETS_PROVIDER}' with its encryptedkey. Fix: pulumi stack change-secrets-provider --cwd" \
      "$1 --stack $2 '${PULUMI_SECRETS_PROVIDER}', and commit the file" >&2
    return 1
  fi
}

install_projects() {
  # `pulumi install` creates each project's virtualenv (Pulumi.yaml names ./venv) and runs pip there with the
  # project folder as its working directory, so requirements.txt's relative paths (../../shared) resolve
  # (pulumi/pulumi sdk/python/toolchain/pip.go; pip resolves local paths from the working directory, pip#6112).
  local folder
  for folder in $(printf '%s\n' "$@" | sort -u); do
    pulumi install --cwd "${REPO_ROOT}/${folder}"
  done
}

install_policy_pack() {
  # The CLI never installs a local Python policy pack: its analyzer shim needs <pack>/venv/bin/python to
  # exist (pulumi/pulumi sdk/python/dist/pulumi-analyzer-policy-python). `pulumi install` in the pack's folder
  # creates the venv from its requirements.txt (pulumi/pulumi#16437, since v3.121.0).
  pulumi install --cwd "${REPO_ROOT}/${POLICY_PACK_DIR}"
}

write_target_profiles() {
  # Regions in their owners' accounts (docs/accounts.md). Such a stack's AWS provider names the shared-config
  # profile regionflow-<account> (regionflow.accounts). REGIONFLOW_TARGET_PROFILES, set by the project, holds
  # "<account>=<role ARN>" pairs: each becomes a profile that assumes that role with this build's own container
  # credentials (role_arn + credential_source = EcsContainer: AWS SDKs and Tools reference guide, "Assume role
  # credential provider"; CodeBuild serves its role's credentials like an ECS container,
  # AWS_CONTAINER_CREDENTIALS_RELATIVE_URI). No [default] profile and no AWS_PROFILE: the Pulumi CLI's S3 backend,
  # its awskms secrets provider and the aws CLI keep this build's own role, in the pipeline account.
  if [ -z "${REGIONFLOW_TARGET_PROFILES:-}" ]; then
    return 0
  fi
  local config pair account role
  config="${HOME}/.aws/regionflow-targets"
  mkdir -p "$(dirname "${config}")"
  : > "${config}"
  for pair in ${REGIONFLOW_TARGET_PROFILES}; do
    account="${pair%%=*}"
    role="${pair#*=}"
    {
      echo "[profile regionflow-${account}]"
      echo "role_arn = ${role}"
      echo "credential_source = EcsContainer"
      echo "role_session_name = regionflow-${CODEBUILD_BUILD_NUMBER:-build}"
    } >> "${config}"
  done
  export AWS_CONFIG_FILE="${config}"
}
