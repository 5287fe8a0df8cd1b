"""Stack files are read the way the Pulumi CLI reads them: Go yaml.v3 (YAML 1.2), values as the CLI passes them.

Sources: go-yaml/yaml v3 ``resolve.go`` (only true/True/TRUE and the false spellings are booleans; ``yes``,
``on`` and friends are strings; ints by ``strconv.ParseInt(s, 0, 64)``); pulumi/pulumi
``sdk/go/common/resource/config/value.go`` (a value is first decoded into a string, so a scalar reaches the
program as its text; only lists and maps become JSON objects).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from regionflow.offline.discovery import OFFLINE_OPAQUE_VALUE, discover_stacks, read_stack_file
from regionflow.yaml_loading import load_pulumi_yaml, plain, resolve_plain_scalar


@pytest.mark.parametrize("text", ["yes", "Yes", "no", "on", "off", "y", "n", "On", "NO"])
def test_yaml_1_1_booleans_are_strings(text: str) -> None:
    assert resolve_plain_scalar(text) == text
    # PyYAML (YAML 1.1) would have made these booleans: the reason this reader exists.
    if text.lower() in ("yes", "no", "on", "off"):
        assert isinstance(yaml.safe_load(text), bool)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True), ("True", True), ("FALSE", False), ("~", None), ("null", None), ("", None),
        ("90", 90), ("0x1F", 31), ("0o17", 15), ("0b101", 5), ("017", 15), ("1_000", 1000), ("-12", -12),
        ("1.5", 1.5), ("1e3", 1000.0), (".5", 0.5), ("eu-west-1", "eu-west-1"), ("0.0.1", "0.0.1"),
    ],
)  # fmt: skip
def test_scalars_resolve_like_yaml_v3(text: str, value: object) -> None:
    resolved = resolve_plain_scalar(text)
    assert resolved == value and type(resolved) is type(value)


def test_quoted_scalars_stay_strings_and_nested_values_resolve() -> None:
    document = plain(load_pulumi_yaml('a: "true"\nb: [yes, 0x10, ~, on]\nc: {k: off}\n'))
    assert document == {"a": "true", "b": ["yes", 16, None, "on"], "c": {"k": "off"}}


def _stack(tmp_path: Path, body: str, declared: str = "  owner: {type: string}\n") -> Path:
    folder = tmp_path / "stacks" / "demo"
    folder.mkdir(parents=True)
    (folder / "Pulumi.yaml").write_text(f"name: demo\nruntime: python\nconfig:\n{declared}")
    (folder / "Pulumi.dev.yaml").write_text(body)
    return folder


def test_scalars_reach_the_program_as_their_text(tmp_path: Path) -> None:
    folder = _stack(
        tmp_path,
        "config:\n  demo:flag: yes\n  demo:days: 0x5A\n  demo:quoted: '90'\n  demo:up: True\n"
        "  demo:list:\n    - {stack: a, on: off}\n",
    )
    found = read_stack_file("demo", {"config": {}}, folder / "Pulumi.dev.yaml")
    assert found.config["demo:flag"] == "yes"  # not "true", as PyYAML would have made it
    assert found.config["demo:days"] == "0x5A"  # the text; the program's int() refuses it, as it would for real
    assert found.config["demo:quoted"] == "90"
    assert found.config["demo:up"] == "True"
    assert json.loads(found.config["demo:list"]) == [{"stack": "a", "on": "off"}]


def test_a_blank_value_is_a_missing_key_not_the_string_none(tmp_path: Path) -> None:
    folder = _stack(tmp_path, "config:\n  demo:owner:\n  demo:costCenter: ~\n")
    [target] = discover_stacks(tmp_path / "stacks")
    assert "demo:owner" not in target.config and "demo:costCenter" not in target.config
    assert set(target.blank_keys) == {"demo:owner", "demo:costCenter"}
    assert "None" not in target.config.values()
    assert folder.is_dir()


def test_a_secure_value_is_an_opaque_secret(tmp_path: Path) -> None:
    _stack(
        tmp_path,
        "config:\n  demo:email:\n    secure: v1:abc:def\n  demo:nested:\n    - {token: {secure: v1:x:y}}\n",
    )
    [target] = discover_stacks(tmp_path / "stacks")
    assert target.config["demo:email"] == OFFLINE_OPAQUE_VALUE
    assert json.loads(target.config["demo:nested"]) == [{"token": OFFLINE_OPAQUE_VALUE}]
    assert set(target.secret_keys) == {"demo:email", "demo:nested"}
    assert "v1:abc:def" not in json.dumps(target.config)


def test_stack_file_settings_are_kept_apart_from_config(tmp_path: Path) -> None:
    _stack(
        tmp_path, "secretsprovider: awskms://alias/k?region=us-east-1\nencryptedkey: AAAA\nconfig:\n  demo:owner: me\n"
    )
    [target] = discover_stacks(tmp_path / "stacks")
    assert target.secrets_provider == "awskms://alias/k?region=us-east-1"
    assert target.stack_settings["encryptedkey"] == "AAAA"
    assert set(target.config) == {"demo:owner"}
