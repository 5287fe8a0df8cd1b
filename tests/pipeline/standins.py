"""Recording stand-ins for the tools the pipeline's builds run: pulumi, curl, aws, tox and python3's pip.

Run as ``python standins.py <tool> <args...>`` through the small wrappers :mod:`buildspec_harness` puts
first on PATH. Each call is appended as one JSON line to ``$STANDIN_LOG`` (tool, argv, working directory,
effective directory). The stand-ins check what the real tools would refuse, and report it as a
*violation* (exit 97, ``standin-violation: ...`` on stderr) so a test sees exactly why a real run would
fail. Failures can be injected with ``$STANDIN_CONFIG`` (a JSON file, see :func:`_config`).

What the real tools do, and where that is written down:

* ``pulumi --cwd DIR`` changes directory before it resolves any other path, ``--policy-pack``
  included (pulumi/pulumi pkg/cmd/pulumi/pulumi.go; pulumi-policy#251).
* ``pulumi install`` runs pip with the project folder as its working directory (pulumi/pulumi
  sdk/python/toolchain/pip.go), and pip resolves local paths in a requirements file from the working
  directory, but ``-r``/``-c`` from the requirements file's folder (pip#6112; pip req_file.py).
* A local Python policy pack must already have its virtualenv (``<pack>/venv/bin/python``): the CLI's
  analyzer shim refuses to start otherwise (pulumi/pulumi sdk/python/dist/pulumi-analyzer-policy-python);
  ``pulumi install`` in the pack's folder creates it (pulumi/pulumi#16437).
* ``pulumi up --non-interactive`` needs ``--yes`` (or ``--skip-preview``) to proceed.
* ``pulumi preview --json`` writes a ``PreviewDigest`` to stdout and nothing else there (pulumi/pulumi
  sdk/go/common/display/json.go; PR pulumi/pulumi#2658 sends progress to stderr). The stand-in prints the digest
  ``$STANDIN_CONFIG`` names for the stack (``preview_json``), by default one of an unchanged stack. ``--json``
  and ``--output`` are mutually exclusive (PR pulumi/pulumi#22927, ``MarkFlagsMutuallyExclusive("json", "output")``).
* A self-managed stack is ``organization/<project>/<stack>``, and its config is ``Pulumi.<stack>.yaml``
  beside the project's ``Pulumi.yaml``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

VIOLATION_EXIT = 97
# Pulumi flags that take a value (pulumi --help, pulumi preview/up --help).
PULUMI_VALUE_FLAGS = {
    "--cwd", "-C", "--stack", "-s", "--policy-pack", "--secrets-provider", "--message", "-m", "--output",
}
PULUMI_COMMAND_FLAGS: dict[str, set[str]] = {
    "preview": {"--cwd", "-C", "--stack", "-s", "--policy-pack", "--non-interactive", "--diff", "--suppress-outputs",
                "--refresh", "--expect-no-changes", "--json", "--output"},
    "up": {"--cwd", "-C", "--stack", "-s", "--policy-pack", "--non-interactive", "--diff", "--suppress-outputs",
           "--yes", "-y", "--skip-preview", "--refresh"},
    "install": {"--cwd", "-C"},
    "login": {"--cwd", "-C", "--non-interactive"},
    "stack select": {"--cwd", "-C", "--non-interactive"},
    "version": set(),
}  # fmt: skip
# What takes the stack lock in the self-managed backend (pulumi/pulumi pkg/backend/diy/backend.go).
LOCKING_COMMANDS = {"up", "refresh", "destroy", "import", "stack init", "stack rm", "stack import", "cancel"}


def _violation(message: str) -> NoReturn:
    print(f"standin-violation: {message}", file=sys.stderr)
    sys.exit(VIOLATION_EXIT)


def _config() -> dict[str, Any]:
    """``{"fail": [{"tool": "pulumi", "args": ["preview", "prod-eu-west-1"], "exit": 1, "stderr": "...",
    "times": 1}], "aws_lock_counts": ["1", "0"], "preview_json": [{"args": ["prod-eu-west-1"], "file": "..."}]}``:
    a failure applies to every call whose argv holds each string (to the first ``times`` of them, if given)."""
    path = os.environ.get("STANDIN_CONFIG")
    return json.loads(Path(path).read_text()) if path else {}


def _record(tool: str, argv: list[str], effective: Path | None = None) -> None:
    entry = {"tool": tool, "argv": argv, "cwd": os.getcwd(), "effective": str(effective or Path.cwd())}
    with open(os.environ["STANDIN_LOG"], "a") as log:
        log.write(json.dumps(entry) + "\n")


def _matches(parts: list[str], argv: list[str]) -> bool:
    return all(any(part in arg for arg in argv) for part in parts)


def _injected_failure(tool: str, argv: list[str]) -> None:
    for number, rule in enumerate(_config().get("fail", [])):
        if rule["tool"] == tool and _matches(rule.get("args", []), argv):
            if "times" in rule:
                counter = Path(os.environ["HOME"]) / f".standin-failures-{number}"
                used = int(counter.read_text()) if counter.exists() else 0
                if used >= int(rule["times"]):
                    continue
                counter.write_text(str(used + 1))
            print(rule.get("stderr", f"{tool}: injected failure"), file=sys.stderr)
            sys.exit(int(rule.get("exit", 1)))


def _preview_digest(stack: str, argv: list[str]) -> str:
    """The ``--json`` output for one stack: a configured sample, else an unchanged stack."""
    for sample in _config().get("preview_json", []):
        if _matches(sample.get("args", []), argv):
            return Path(sample["file"]).read_text()
    name = stack.rsplit("/", 1)[-1]
    urn = f"urn:pulumi:{name}::standin::pulumi:pulumi:Stack::standin-{name}"
    step = {"op": "same", "urn": urn, "newState": {"urn": urn, "custom": False, "type": "pulumi:pulumi:Stack"}}
    return json.dumps({"steps": [step], "changeSummary": {"same": 1}}, indent=4)


# -- pulumi ----------------------------------------------------------------------------------------


def _split_pulumi(argv: list[str]) -> tuple[list[str], dict[str, str], set[str]]:
    positional: list[str] = []
    values: dict[str, str] = {}
    flags: set[str] = set()
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg.startswith("-"):
            name, _, inline = arg.partition("=")
            flags.add(name)
            if name in PULUMI_VALUE_FLAGS:
                if not inline:
                    index += 1
                    if index >= len(argv):
                        _violation(f"pulumi flag {name} needs a value")
                    inline = argv[index]
                values[name] = inline
        else:
            positional.append(arg)
        index += 1
    return positional, values, flags


def _check_requirements(project_dir: Path) -> None:
    requirements = project_dir / "requirements.txt"
    if not requirements.is_file():
        _violation(f"pulumi install: no requirements.txt in {project_dir}")
    for raw in requirements.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        option, _, rest = line.partition(" ")
        if option in ("-c", "-r", "--constraint", "--requirement"):
            if not (requirements.parent / rest.strip()).is_file():
                _violation(f"pip: {requirements}: {option} {rest.strip()} does not exist beside the file")
            continue
        target = rest.strip() if option in ("-e", "--editable") else line
        if target.startswith((".", "/")):
            resolved = project_dir / target  # pip's working directory is the project folder
            if not ((resolved / "pyproject.toml").is_file() or (resolved / "setup.py").is_file()):
                _violation(f"pip: {requirements}: {target} is no installable project from {project_dir}")


def _check_project(effective: Path, stack: str) -> None:
    project_file = effective / "Pulumi.yaml"
    if not project_file.is_file():
        _violation(f"no Pulumi.yaml in {effective} (is --cwd right?)")
    match = re.search(r"^name:\s*(\S+)", project_file.read_text(), re.M)
    parts = stack.split("/")
    if len(parts) == 3:
        if parts[0] != "organization":
            _violation(f"stack {stack}: the self-managed backend's organization is 'organization'")
        if match is None or match.group(1) != parts[1]:
            _violation(f"stack {stack} names project {parts[1]}, but {project_file} is {match and match.group(1)}")
    elif len(parts) != 1:
        _violation(f"stack {stack} is neither <stack> nor organization/<project>/<stack>")
    if not (effective / f"Pulumi.{parts[-1]}.yaml").is_file():
        _violation(f"stack {stack}: no Pulumi.{parts[-1]}.yaml in {effective}")


def pulumi(argv: list[str]) -> None:
    positional, values, flags = _split_pulumi(argv)
    cwd_flag = values.get("--cwd") or values.get("-C")
    effective = (Path.cwd() / cwd_flag).resolve() if cwd_flag else Path.cwd()
    if cwd_flag and not effective.is_dir():
        _violation(f"--cwd {cwd_flag}: no such directory")
    command = " ".join(positional[:2]) if positional[:1] == ["stack"] else (positional[0] if positional else "")
    _record("pulumi", argv, effective)
    home = Path(os.environ["HOME"])
    state = home / ".standin-pulumi"
    state.mkdir(exist_ok=True)
    if command not in PULUMI_COMMAND_FLAGS:
        _violation(f"pulumi {command!r} is not a command this build is expected to run")
    unknown = flags - PULUMI_COMMAND_FLAGS[command]
    if unknown:
        _violation(f"pulumi {command}: unknown flags {sorted(unknown)}")
    if command == "version":
        print("v" + (home / ".pulumi" / "bin" / ".standin-version").read_text().strip())
        return
    if command == "login":
        url = positional[1] if len(positional) > 1 else ""
        if not re.match(r"^s3://[a-z0-9.-]+\?region=[a-z0-9-]+(&awssdk=v2)?$", url):
            _violation(f"pulumi login {url!r} is not the s3://<bucket>?region=<region> URL of the backend")
        (state / "login").write_text(url)
        return
    if command == "install":
        if (effective / "PulumiPolicy.yaml").is_file() or (effective / "Pulumi.yaml").is_file():
            _check_requirements(effective)
            # The virtualenv's python: the test's own interpreter, which has regionflow installed as the
            # project's requirements.txt would.
            python = effective / "venv" / "bin" / "python"
            python.parent.mkdir(parents=True, exist_ok=True)
            python.write_text(f'#!/bin/sh\nexec "{os.environ["STANDIN_REAL_PYTHON"]}" "$@"\n')
            python.chmod(0o755)
            _injected_failure("pulumi", argv)
            return
        _violation(f"pulumi install: {effective} holds neither Pulumi.yaml nor PulumiPolicy.yaml")
    if not (state / "login").is_file():
        _violation(f"pulumi {command} before pulumi login")
    stack = positional[2] if command == "stack select" and len(positional) > 2 else values.get("--stack", "")
    if not stack:
        _violation(f"pulumi {command} without a stack: non-interactive runs must name it")
    _check_project(effective, stack)
    if not (effective / "venv" / "bin" / "python").is_file() and command in ("preview", "up"):
        _violation(f"pulumi {command}: {effective}/venv does not exist; run `pulumi install` there first")
    pack = values.get("--policy-pack")
    if pack is not None:
        pack_dir = (effective / pack).resolve()  # resolved after the --cwd chdir
        if not (pack_dir / "PulumiPolicy.yaml").is_file():
            _violation(f"--policy-pack {pack}: no PulumiPolicy.yaml at {pack_dir} (resolved from {effective})")
        if not (pack_dir / "venv" / "bin" / "python").is_file():
            _violation(f"--policy-pack {pack}: {pack_dir}/venv doesn't appear to be a virtual environment")
    if command == "preview" and {"--json", "--output"} <= flags:
        _violation("pulumi preview: --json and --output cannot be used together")
    if command == "up" and "--non-interactive" in flags and not flags & {"--yes", "-y", "--skip-preview"}:
        _violation("pulumi up --non-interactive needs --yes or --skip-preview")
    _injected_failure("pulumi", argv)
    if command == "preview" and "--json" in flags:
        sys.stdout.write(_preview_digest(stack, argv))

# -- curl and the get.pulumi.com installer -----------------------------------------------------------

INSTALLER = """#!/bin/sh
# Stand-in for https://get.pulumi.com: installs the recording pulumi into $HOME/.pulumi/bin.
set -e
version=""
while [ $# -gt 0 ]; do
  case "$1" in
    --version) version="$2"; shift 2 ;;
    --no-edit-path|--silent) shift ;;
    *) echo "standin-violation: get.pulumi.com has no option $1" >&2; exit 97 ;;
  esac
done
case "$version" in [0-9]*.[0-9]*.[0-9]*) ;; *) echo "standin-violation: bad --version '$version'" >&2; exit 97 ;; esac
mkdir -p "$HOME/.pulumi/bin"
printf '%s\\n' "$version" > "$HOME/.pulumi/bin/.standin-version"
printf '#!/bin/sh\\nexec {python} {standins} pulumi "$@"\\n' > "$HOME/.pulumi/bin/pulumi"
chmod +x "$HOME/.pulumi/bin/pulumi"
"""


def curl(argv: list[str]) -> None:
    _record("curl", argv)
    _injected_failure("curl", argv)
    urls = [a for a in argv if a.startswith("http")]
    if urls != ["https://get.pulumi.com"]:
        _violation(f"curl: unexpected download {urls}")
    script = INSTALLER.replace("{python}", sys.executable).replace("{standins}", str(Path(__file__).resolve()))
    if "-o" in argv:
        Path(argv[argv.index("-o") + 1]).write_text(script)
    else:
        sys.stdout.write(script)


# -- aws ------------------------------------------------------------------------------------------


def _option(argv: list[str], name: str) -> str:
    if name not in argv or argv.index(name) + 1 >= len(argv):
        _violation(f"aws {' '.join(argv[:2])}: missing {name}")
    return argv[argv.index(name) + 1]


def aws(argv: list[str]) -> None:
    _record("aws", argv)
    _injected_failure("aws", argv)
    command = tuple(argv[:2])
    if command == ("s3api", "list-objects-v2"):
        _option(argv, "--bucket")
        _option(argv, "--prefix")
        _option(argv, "--region")
        counts_file = Path(os.environ["HOME"]) / ".standin-lock-counts"
        counts = json.loads(counts_file.read_text()) if counts_file.exists() else _config().get("aws_lock_counts", [])
        print(counts.pop(0) if counts else "0")
        counts_file.write_text(json.dumps(counts))
    elif command == ("codepipeline", "list-pipeline-executions"):
        _option(argv, "--pipeline-name")
        if _option(argv, "--output") != "json":
            # With text output the CLI applies --query to each page separately (AWS CLI user guide, "Filtering
            # output"): a sort over every execution must read the JSON output.
            _violation("list-pipeline-executions: a --query over every page needs --output json")
        if "status=='Succeeded'" not in _option(argv, "--query"):
            _violation("list-pipeline-executions: drift must check the last succeeded (deployed) execution")
        print(json.dumps(_config().get("latest_execution", ["exec-0042", "STANDARD", None])))
    elif command == ("codepipeline", "list-action-executions"):
        _option(argv, "--pipeline-name")
        execution = _option(argv, "--filter")
        if not execution.startswith("pipelineExecutionId=") or _option(argv, "--output") != "json":
            _violation("list-action-executions: expected --filter pipelineExecutionId=... and --output json")
        locations = _config().get("source_locations", {})
        print(json.dumps(locations.get(execution.split("=", 1)[1])))
    elif command == ("s3", "cp"):
        source, destination = argv[2], argv[3]
        if not re.fullmatch(r"s3://[a-z0-9.-]+/.+", source):
            _violation(f"aws s3 cp {source!r}: not an s3://bucket/key URL")
        Path(destination).write_bytes(Path(os.environ["STANDIN_SOURCE_ZIP"]).read_bytes())
    elif command == ("iam", "get-policy"):
        _option(argv, "--policy-arn")
        print("v3")
    elif command == ("iam", "get-policy-version"):
        arn = _option(argv, "--policy-arn")
        _option(argv, "--version-id")
        document = _config().get("boundary_document")
        if document is None:  # the account's boundary as `regionflow bootstrap` writes it for this ARN
            from regionflow.boundary import boundary_document, parse_boundary_arn

            family = parse_boundary_arn(arn)
            if family is None:
                _violation(f"aws iam get-policy-version: {arn} is no regionflow boundary")
            document = json.loads(boundary_document(*family))
        print(json.dumps(document))
    elif command == ("sns", "publish"):
        for name in ("--topic-arn", "--message", "--region"):
            _option(argv, name)
        print('{"MessageId": "standin"}')
    elif command == ("codepipeline", "start-pipeline-execution"):
        _option(argv, "--name")
        revisions = _option(argv, "--source-revisions")
        if not re.fullmatch(r"actionName=[^,]+,revisionType=[A-Z_]+,revisionValue=.+", revisions):
            _violation(f"--source-revisions {revisions!r} is not actionName=...,revisionType=...,revisionValue=...")
        print('{"pipelineExecutionId": "new-execution"}')
    elif command == ("codepipeline", "stop-pipeline-execution"):
        _option(argv, "--pipeline-name")
        _option(argv, "--pipeline-execution-id")
        print('{"pipelineExecutionId": "stopped"}')
    else:
        _violation(f"aws {' '.join(command)} is not a call this build is expected to make")


# -- tox and pip ----------------------------------------------------------------------------------


def tox(argv: list[str]) -> None:
    _record("tox", argv)
    _injected_failure("tox", argv)


def python3(argv: list[str]) -> None:
    if argv[:2] == ["-m", "pip"]:
        _record("pip", argv[2:])
        _injected_failure("pip", argv[2:])
        return
    real = os.environ["STANDIN_REAL_PYTHON"]
    sys.exit(subprocess.call([real, *argv]))


TOOLS = {"pulumi": pulumi, "curl": curl, "aws": aws, "tox": tox, "python3": python3}

if __name__ == "__main__":
    TOOLS[sys.argv[1]](sys.argv[2:])
