"""``regionflow bootstrap``: create (or check) the state backend, the boundary and the GitHub preview role."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TextIO, TypeVar

from regionflow.bootstrap import BootstrapInputError, Bootstrapper, BootstrapRequest, BootstrapResult

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

ClientFactory = Callable[[str, str], Any]


def repository_projects(root: Path) -> tuple[str, ...]:
    """The Pulumi projects of the repository (each stacks/*/Pulumi.yaml's name), whose state the preview role reads.

    Projects, not stacks: a region added later is a new stack of an existing project, and the role's
    per-project grants (.pulumi/stacks/<project>/*) already cover it.
    """
    import yaml

    names = set()
    for project_file in sorted((root / "stacks").glob("*/Pulumi.yaml")):
        loaded = yaml.safe_load(project_file.read_text())
        if isinstance(loaded, dict) and isinstance(loaded.get("name"), str):
            names.add(loaded["name"])
    return tuple(sorted(names))


def boto3_clients(service: str, region: str) -> Any:
    import boto3

    return boto3.session.Session(region_name=region).client(service)


# The pipeline stack's config keys that come from the backend (stacks/pipeline/Pulumi.yaml).
PIPELINE_PROJECT = "regionflow-pipeline"
PIPELINE_FOLDER = "stacks/pipeline"


def repository_variables(result: BootstrapResult) -> dict[str, str]:
    """The repository variables .github/workflows/preview.yml reads, with their values."""
    return {
        "PULUMI_PREVIEW_ROLE_ARN": result.preview_role_arn,
        "PULUMI_BACKEND_REGION": result.region,
        "PULUMI_STATE_BUCKET": result.names.bucket,
        "PULUMI_SECRETS_KEY_ALIAS": result.names.secrets_key_alias,
    }


def pipeline_config(result: BootstrapResult) -> dict[str, str]:
    """The pipeline stack's backend settings (regionflow.pipeline_config reads and checks them)."""
    return {
        "stateBackendUrl": result.login_url,
        "stateKeyArn": result.state_key_arn,
        "secretsProvider": result.secrets_provider,
        "secretsKeyArn": result.secrets_key_arn,
    }


def print_result(result: BootstrapResult, out: TextIO) -> None:
    for item in result.existing:
        print(f"exists:  {item}", file=out)
    for item in result.created:
        print(f"created: {item}", file=out)
    for item in result.updated:
        print(f"updated: {item}", file=out)
    if not result.ok:
        for problem in result.problems:
            print(f"problem: {problem}", file=out)
        print(
            f"error: {len(result.problems)} problem(s) with what exists; nothing was created or changed. "
            "Fix them as each line says (bootstrap never weakens or rewrites an existing bucket, key, policy "
            "or role), then re-run.",
            file=out,
        )
        return
    print(f"state key:   {result.state_key_arn}", file=out)
    print(f"secrets key: {result.secrets_key_arn}", file=out)
    print("1. Log in and create each stack with the backend's secrets provider:", file=out)
    print(f"  pulumi login '{result.login_url}'", file=out)
    print(f"  pulumi stack init <stack> --secrets-provider '{result.secrets_provider}'", file=out)
    print(f"2. The pipeline stack's backend config ({PIPELINE_FOLDER}/Pulumi.<stack>.yaml):", file=out)
    for key, value in pipeline_config(result).items():
        print(f"  pulumi config set --cwd {PIPELINE_FOLDER} {PIPELINE_PROJECT}:{key} '{value}'", file=out)
    print("3. The permissions boundary every regionflow role carries (the stacks derive it; nothing to set):", file=out)
    print(f"  {result.boundary_arn}", file=out)
    if result.github_repository is None:
        print(
            "4. No --github-repository: no GitHub OIDC provider or pull-request preview role was made. Re-run with "
            "--github-repository owner/name for them and for the repository variables the workflow reads.",
            file=out,
        )
        return
    print(
        f"4. Repository variables of {result.github_repository} (Settings > Secrets and variables > Actions > "
        "Variables), read by .github/workflows/preview.yml:",
        file=out,
    )
    for name, value in repository_variables(result).items():
        print(f"  gh variable set {name} --repo {result.github_repository} --body '{value}'", file=out)
    if result.preview_read_roles:
        print(
            "5. The preview role may assume the read roles of the other accounts the pipeline config names "
            "(each made by `regionflow bootstrap --target` there; docs/accounts.md):",
            file=out,
        )
        for role in result.preview_read_roles:
            print(f"  {role}", file=out)


def run_bootstrap(
    request: BootstrapRequest,
    out: TextIO,
    clients: ClientFactory = boto3_clients,
) -> int:
    try:
        request.validate()
    except BootstrapInputError as error:
        print(f"error: {error}", file=out)
        return EXIT_BAD_INPUT

    def bootstrap() -> BootstrapResult:
        return Bootstrapper(
            request,
            s3=clients("s3", request.region),
            kms=clients("kms", request.region),
            sts=clients("sts", request.region),
            iam=clients("iam", request.region),
        ).run()

    return _run_and_report(bootstrap, BootstrapInputError, "bootstrap", print_result, out)


class _Reportable(Protocol):
    @property
    def ok(self) -> bool: ...


_Result = TypeVar("_Result", bound=_Reportable)


def _run_and_report(
    run: Callable[[], _Result],
    input_error: type[Exception],
    what: str,
    show: Callable[[_Result, TextIO], None],
    out: TextIO,
) -> int:
    """Run one bootstrap and print its result; every failure is one line: bad input exits 2, boto3 or AWS 1."""
    try:
        result = run()
    except input_error as error:
        print(f"error: {error}", file=out)
        return EXIT_BAD_INPUT
    except ImportError:
        print(
            "error: boto3 is not installed; install regionflow with its ops extra: pip install 'regionflow[ops]'",
            file=out,
        )
        return EXIT_FAILED
    except Exception as error:  # noqa: BLE001 - AWS errors (credentials, permissions) become one line
        print(f"error: AWS refused the {what}: {_one_line(error)}", file=out)
        return EXIT_FAILED
    show(result, out)
    return EXIT_OK if result.ok else EXIT_FAILED


def _one_line(error: Exception) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def run_target_bootstrap(args: Any, out: TextIO, clients: ClientFactory = boto3_clients) -> int:
    """``regionflow bootstrap --target``: one line per argument error (exit 2), problems reported (exit 1)."""
    from regionflow.bootstrap_target import (
        TargetBootstrapper,
        TargetInputError,
        TargetRequest,
        TargetResult,
        print_target_result,
    )

    missing = [
        flag
        for flag, value in (("--trust-account", args.trust_account), ("--home-region", args.home_region))
        if not value
    ]
    if missing:
        print(f"error: --target needs {' and '.join(missing)} (the pipeline's account and home region)", file=out)
        return EXIT_BAD_INPUT
    if args.github_repository or args.update_boundary:
        print(
            "error: --target takes no --github-repository or --update-boundary (run plain bootstrap for those)",
            file=out,
        )
        return EXIT_BAD_INPUT
    request = TargetRequest(
        region=args.region,
        name_prefix=args.name_prefix,
        environment=args.environment,
        trust_account=args.trust_account,
        home_region=args.home_region,
        account_id=args.account_id,
    )

    def bootstrap_target() -> TargetResult:
        request.validate()
        return TargetBootstrapper(
            request, sts=clients("sts", request.region), iam_client=clients("iam", request.region)
        ).run()

    return _run_and_report(bootstrap_target, TargetInputError, "target bootstrap", print_target_result, out)
