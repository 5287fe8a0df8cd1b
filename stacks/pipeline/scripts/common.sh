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
