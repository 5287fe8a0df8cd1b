"""The ``regionflow`` command: ``regionflow preview`` runs every stack offline (or for real).

Exit codes: 0 when all is well, 1 when a program fails or a mandatory policy is violated, 2 for
bad input (config or arguments). Errors are printed once, on one line, without a traceback
(``--traceback`` shows it for debugging).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TextIO

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line naming the problem and the fix, instead of argparse's usage dump.
        self.exit(EXIT_BAD_INPUT, f"regionflow: error: {message} (run `{self.prog} --help`)\n")


def find_root(start: Path) -> Path:
    """The repository root: the nearest folder (from ``start`` up) that holds ``stacks/``."""
    for folder in (start, *start.parents):
        if (folder / "stacks").is_dir() and (folder / "shared").is_dir():
            return folder
    return start


def build_parser() -> argparse.ArgumentParser:
    from regionflow import __version__

    parser = _Parser(prog="regionflow", description="regionflow: multi-region Pulumi pipeline tooling")
    parser.add_argument("--version", action="version", version=f"regionflow {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    preview = sub.add_parser(
        "preview",
        help="preview every stack: primary, then each secondary, then the pipeline",
        description="Preview every stack in order. --engine offline (default) checks every stack file, "
        "runs each program in-process under mocks, shows what changed since the previous preview "
        "(like `pulumi preview --diff`) and writes a JSON manifest per stack; --engine pulumi runs a real "
        "`pulumi preview` per stack through the Automation API (needs the CLI, a backend login "
        "and AWS credentials).",
    )
    preview.add_argument(
        "--engine",
        choices=("offline", "pulumi"),
        default="offline",
        help="offline (default): in-process under mocks, no cloud access; pulumi: the real CLI",
    )
    preview.add_argument("--root", type=Path, help="repository root (default: found from the current folder)")
    preview.add_argument(
        "--out", type=Path, help="where manifests and pipeline.mmd go (default: <root>/.regionflow/preview)"
    )
    preview.add_argument("--account-id", default=None, help="12-digit account ID used in mocked ARNs")
    preview.add_argument(
        "--stack",
        action="append",
        default=[],
        metavar="PROJECT/STACK",
        help="only these stacks (repeatable), in deployment order; stacks they reference are read from "
        "their previous manifests, or previewed first when there are none",
    )
    preview.add_argument(
        "--diff-against",
        type=Path,
        metavar="DIR",
        help="compare with the manifests in DIR (e.g. a preview of main) instead of the previous ones in --out",
    )
    preview.add_argument("--json", action="store_true", help="print one JSON document: findings, diff, pipeline")
    preview.add_argument(
        "--stages", action="store_true", help="print the pipeline's stages and actions (region, run order, wave)"
    )
    preview.add_argument(
        "--markdown", type=Path, metavar="FILE", help="write the diff and pipeline diagram as a pull-request comment"
    )
    preview.add_argument("--quiet", action="store_true", help="print only the totals (and any warning or error)")
    preview.add_argument("--traceback", action="store_true", help="show the full traceback of a failure")
    _add_gitops_commands(sub)
    iam_lint = sub.add_parser(
        "iam-lint",
        help="run parliament over every IAM policy in the offline preview's manifests",
        description="Lint every IAM policy document (inline, managed, trust, bucket, key, topic, queue) "
        "that `regionflow preview` recorded with parliament; fail on findings not listed in "
        "shared/regionflow/policies/iam_lint_exceptions.yaml.",
    )
    from regionflow.policies.iam_lint import add_arguments as add_iam_lint_arguments

    add_iam_lint_arguments(iam_lint)
    iam_lint.add_argument("--root", type=Path, help="repository root (default: found from the current folder)")
    iam_check = sub.add_parser(
        "iam-check",
        help="prove from the offline preview's manifests that every role can do its job, and report slack",
        description="Decide, with AWS's policy evaluation logic, every permission each role's job needs "
        "(pulumi up/preview of its stacks, the pipeline, the builds, the logger); print what is missing, "
        "what is in excess and what is granted but never needed. Exit 1 when anything is missing.",
    )
    from regionflow.iamcheck.arguments import add_arguments as add_iam_check_arguments

    add_iam_check_arguments(iam_check)
    return parser


def _add_gitops_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    bootstrap = sub.add_parser(
        "bootstrap",
        help="create (or check) the state backend, the permissions boundary and the GitHub preview role, with boto3",
        description="Create the self-managed Pulumi backend of one account and region (a versioned, "
        "KMS-encrypted, private, TLS-only state bucket and a KMS key for the awskms secrets provider), the "
        "permissions boundary every regionflow role carries, and with --github-repository GitHub's OIDC "
        "provider and the read-only pull-request preview role. Run it as an administrator. Safe to re-run; "
        "anything that exists but is misconfigured is reported, never changed (except the boundary's "
        "document with --update-boundary).",
    )
    bootstrap.add_argument("--region", required=True, help="AWS region of the backend, e.g. us-east-1")
    bootstrap.add_argument("--name-prefix", required=True, help="the stacks' namePrefix, e.g. rflow")
    bootstrap.add_argument("--environment", required=True, help="the stacks' environment, e.g. prod")
    bootstrap.add_argument("--account-id", default=None, help="expected 12-digit account ID of the credentials")
    bootstrap.add_argument(
        "--github-repository",
        default=None,
        metavar="OWNER/NAME",
        help="also create GitHub's OIDC provider and the pull-request preview role for this repository",
    )
    bootstrap.add_argument(
        "--update-boundary",
        action="store_true",
        help="make the derived boundary document the policy's new default version when the existing one differs",
    )
    bootstrap.add_argument(
        "--root",
        type=Path,
        help="repository root (default: found from the current folder): its stacks' projects, and the accounts "
        "its pipeline config deploys into, whose read roles the preview role may assume",
    )
    bootstrap.add_argument(
        "--target",
        action="store_true",
        help="prepare a region owner's account for the pipeline of --trust-account instead (docs/accounts.md): "
        "the boundary and the region's deploy, read and invoke roles; --region is the region's",
    )
    bootstrap.add_argument("--trust-account", default=None, help="with --target: the pipeline's 12-digit account")
    bootstrap.add_argument(
        "--home-region", default=None, help="with --target: the pipeline's home region (its primary stack's)"
    )
    deploy = sub.add_parser(
        "deploy",
        help="pulumi up every stack: primary, then the secondaries, then the pipeline",
        description="Run `pulumi up` through the Automation API, in order: primary, secondaries "
        "(together with --parallel), pipeline. Stops at the first failure. Needs the Pulumi CLI, "
        "a backend login and AWS credentials.",
    )
    deploy.add_argument(
        "--engine",
        choices=("pulumi", "offline"),
        default="pulumi",
        help="pulumi (default) deploys; offline is refused, use `regionflow preview` instead",
    )
    deploy.add_argument("--parallel", action="store_true", help="deploy the secondaries at the same time")
    deploy.add_argument("--max-parallel", type=int, default=8, help="at most this many secondaries at once")
    deploy.add_argument("--root", type=Path, help="repository root (default: found from the current folder)")
    deploy.add_argument(
        "--stack", action="append", default=[], metavar="PROJECT/STACK", help="only these stacks (repeatable)"
    )


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    try:
        return _main(argv, out)
    except BrokenPipeError:
        # `regionflow preview | head`: the reader left; stop quietly, as other command-line tools do.
        # Point stdout at /dev/null so the interpreter's final flush does not raise again.
        if stdout is None:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED


def _main(argv: Sequence[str] | None, out: TextIO) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "preview":
        from regionflow.commands.preview import run_preview

        root = (args.root or find_root(Path.cwd())).resolve()
        started = time.perf_counter()
        code = run_preview(
            root=root,
            engine=args.engine,
            out_dir=(args.out or root / ".regionflow" / "preview"),
            account_id=args.account_id,
            only=args.stack,
            quiet=args.quiet,
            traceback=args.traceback,
            out=out,
            diff_against=args.diff_against,
            json_output=args.json,
            show_stages=args.stages,
            markdown=args.markdown,
        )
        if code != EXIT_BAD_INPUT and not args.quiet and not args.json:
            print(f"Duration: {time.perf_counter() - started:.2f}s", file=out)
        return code
    if args.command == "bootstrap" and args.target:
        from regionflow.commands.bootstrap import run_target_bootstrap

        return run_target_bootstrap(args, out)
    if args.command == "bootstrap":
        from regionflow.accounts import pipeline_target_accounts
        from regionflow.bootstrap import BootstrapRequest
        from regionflow.commands.bootstrap import repository_projects, run_bootstrap

        repository = (args.root or find_root(Path.cwd())).resolve()
        request = BootstrapRequest(
            args.region,
            args.name_prefix,
            args.environment,
            args.account_id,
            github_repository=args.github_repository,
            projects=repository_projects(repository),
            update_boundary=args.update_boundary,
            target_accounts=pipeline_target_accounts(repository, args.name_prefix, args.environment),
        )
        return run_bootstrap(request, out)
    if args.command == "deploy":
        from regionflow.commands.deploy import run_deploy

        return run_deploy(
            root=(args.root or find_root(Path.cwd())).resolve(),
            engine=args.engine,
            only=args.stack,
            parallel=args.parallel,
            max_parallel=args.max_parallel,
            out=out,
        )
    if args.command == "iam-lint":
        from regionflow.policies.iam_lint import run_lint

        root = (args.root or find_root(Path.cwd())).resolve()
        return run_lint(args.manifests or root / ".regionflow" / "preview", args.exceptions, out, verbose=args.verbose)
    if args.command == "iam-check":
        from regionflow.iamcheck.check import run_command

        return run_command(args, out, (args.root or find_root(Path.cwd())).resolve())
    return EXIT_BAD_INPUT  # pragma: no cover - argparse enforces a command


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
