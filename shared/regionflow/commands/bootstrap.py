"""``regionflow bootstrap``: create (or check) the self-managed state backend with boto3."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TextIO

from regionflow.bootstrap import BootstrapInputError, Bootstrapper, BootstrapRequest, BootstrapResult

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

ClientFactory = Callable[[str, str], Any]


def boto3_clients(service: str, region: str) -> Any:
    import boto3

    return boto3.session.Session(region_name=region).client(service)


def print_result(result: BootstrapResult, out: TextIO) -> None:
    for item in result.existing:
        print(f"exists:  {item}", file=out)
    for item in result.created:
        print(f"created: {item}", file=out)
    if not result.ok:
        for problem in result.problems:
            print(f"problem: {problem}", file=out)
        print(
            f"error: {len(result.problems)} problem(s) with the existing backend; nothing was created or changed. "
            "Fix them by hand (bootstrap never weakens or rewrites an existing bucket or key), then re-run.",
            file=out,
        )
        return
    print(f"state key:   {result.state_key_arn}", file=out)
    print(f"secrets key: {result.secrets_key_arn}", file=out)
    print("Log in and create stacks with:", file=out)
    print(f"  pulumi login '{result.login_url}'", file=out)
    print(
        f"  pulumi stack init <stack> --secrets-provider '{result.secrets_provider}'",
        file=out,
    )


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
    try:
        bootstrapper = Bootstrapper(
            request,
            s3=clients("s3", request.region),
            kms=clients("kms", request.region),
            sts=clients("sts", request.region),
        )
        result = bootstrapper.run()
    except BootstrapInputError as error:
        print(f"error: {error}", file=out)
        return EXIT_BAD_INPUT
    except ImportError:
        print(
            "error: boto3 is not installed; install regionflow with its ops extra: pip install 'regionflow[ops]'",
            file=out,
        )
        return EXIT_FAILED
    except Exception as error:  # noqa: BLE001 - AWS errors (credentials, permissions) become one line
        print(f"error: AWS refused the bootstrap: {_one_line(error)}", file=out)
        return EXIT_FAILED
    print_result(result, out)
    return EXIT_OK if result.ok else EXIT_FAILED


def _one_line(error: Exception) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
