"""The mistakes people really make in stack files, each made as a new user would, in a copy of the repository.

Each one stops the preview (or warns) with one line that names the file to change and a fix that works when
pasted at the repository root; nothing passes in silence.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from preview_support import PIPELINE, PRIMARY, SECONDARY, copy_repository, edit, lines, preview

SECRETS_PROVIDER = "awskms://alias/rflow-prod-use1-pulumi-secrets?region=us-east-1"

NEW_ENTRY = (
    "      region: eu-west-1\n    - stack: organization/regionflow-secondary/prod-us-west-2\n      region: us-west-2\n"
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return copy_repository(tmp_path)


def one_error(output: str) -> str:
    errors = lines(output, "error: ")
    assert len(errors) == 1, output
    assert "Traceback" not in output
    return errors[0]


@pytest.mark.parametrize(
    ("file", "old", "new", "key", "meant"),
    [
        (PIPELINE, "regionflow-pipeline:secondaryStacks:", "regionflow-pipeline:secondaryStack:",
         "regionflow-pipeline:secondaryStack", "secondaryStacks"),
        (PRIMARY, "regionflow-primary:logRetentionDays:", "regionflow-primary:logRetentionDay:",
         "regionflow-primary:logRetentionDay", "logRetentionDays"),
        (SECONDARY, "regionflow-secondary:costCenter:", "regionflow-secondary:costCentre:",
         "regionflow-secondary:costCentre", "costCenter"),
    ],
)  # fmt: skip
def test_an_undeclared_key_is_an_error_offering_the_closest_declared_key(
    repo: Path, file: str, old: str, new: str, key: str, meant: str
) -> None:
    edit(repo / file, old, new)
    code, output = preview(repo)
    assert code == 2
    error = one_error(output)
    assert error.startswith(f"error: {file}: line ")
    assert f"{key} is not a key of " in error
    assert f"(did you mean {meant}?)" in error
    assert error.endswith(f"Fix: rename it to {key.split(':')[0]}:{meant}")
    assert "Previewing" not in output  # stopped before any program ran


def test_a_typo_of_secondary_stacks_no_longer_yields_a_pipeline_without_secondaries(repo: Path) -> None:
    edit(repo / PIPELINE, "regionflow-pipeline:secondaryStacks:", "regionflow-pipeline:secondaryStack:")
    code, _ = preview(repo)
    assert code == 2 and not (repo / ".regionflow" / "preview" / "regionflow-pipeline.prod.json").exists()


def test_an_unknown_key_inside_a_secondary_stacks_entry_is_named_with_its_index(repo: Path) -> None:
    edit(repo / PIPELINE, "      region: eu-west-1", "      regoin: eu-west-1")
    code, output = preview(repo)
    assert code == 2
    assert one_error(output) == (
        f"error: {PIPELINE}: regionflow-pipeline:secondaryStacks[1].regoin: is not a key of a secondaryStacks entry "
        "(did you mean region?); an entry has stack, region and optionally account. Fix: rename it to region in the "
        "stack file"
    )


def test_a_namespace_typo_and_an_unknown_aws_key_are_errors(repo: Path) -> None:
    edit(repo / SECONDARY, "regionflow-secondary:owner:", "regionflow-secondry:owner:")
    edit(repo / PRIMARY, "config:\n", "config:\n  aws:regoin: us-east-1\n")
    code, output = preview(repo)
    assert code == 2
    errors = lines(output, "error: ")
    assert any("regionflow-secondry:owner is in namespace" in e and "did you mean regionflow-secondary:owner" in e
               for e in errors), output  # fmt: skip
    assert any("aws:regoin is not a config key of the AWS provider (did you mean aws:region?)" in e for e in errors)


def test_a_blank_owner_is_a_missing_key_never_the_string_none(repo: Path) -> None:
    edit(repo / SECONDARY, "regionflow-secondary:owner: platform-team", "regionflow-secondary:owner:")
    code, output = preview(repo)
    assert code == 2
    [warning] = [w for w in lines(output, "warning: ") if "owner" in w]
    assert warning.startswith(f"warning: {SECONDARY}: regionflow-secondary:owner has no value")
    assert one_error(output) == (
        f"error: {SECONDARY}: regionflow-secondary:owner: missing required key (the owning team, used in the Owner "
        "tag). Fix: run `pulumi config set --cwd stacks/secondary --stack prod-eu-west-1 owner platform-team`"
    )
    for manifest in (repo / ".regionflow" / "preview").glob("*.json"):
        assert '"Owner": "None"' not in manifest.read_text()


def test_a_secure_value_is_accepted_offline_and_never_in_clear_in_a_manifest(repo: Path) -> None:
    ciphertext = "v1:c2VjcmV0LW5vbmNl:ZW5jcnlwdGVkLWVtYWlsLWFkZHJlc3M="
    edit(
        repo / PRIMARY,
        "regionflow-primary:notificationEmail: platform-alerts@example.com",
        f"regionflow-primary:notificationEmail:\n    secure: {ciphertext}",
    )
    code, output = preview(repo)
    assert code == 0, output
    manifest = json.loads((repo / ".regionflow" / "preview" / "regionflow-primary.prod.json").read_text())
    [subscription] = [r for r in manifest["resources"] if r["type"] == "aws:sns/topicSubscription:TopicSubscription"]
    assert subscription["inputs"]["endpoint"] == "[secret]"
    text = json.dumps(manifest)
    assert ciphertext not in text and "not decrypted offline" not in text


def test_yes_is_a_string_as_the_cli_reads_it_so_a_boolean_key_refuses_it(repo: Path) -> None:
    edit(repo / PIPELINE, "regionflow-pipeline:updatePipeline: true", "regionflow-pipeline:updatePipeline: yes")
    code, output = preview(repo)
    assert code == 2
    assert one_error(output) == (
        f"error: {PIPELINE}: regionflow-pipeline:updatePipeline: 'yes' is not true or false; YAML 1.2, which the "
        "Pulumi CLI reads, makes 'yes' a string, not a boolean. Fix: run "
        "`pulumi config set --cwd stacks/pipeline --stack prod updatePipeline true`"
    )


def test_a_copied_stack_file_with_the_region_unchanged_names_both_files(repo: Path) -> None:
    copy = repo / "stacks" / "secondary" / "Pulumi.prod-us-west-2.yaml"
    copy.write_text((repo / SECONDARY).read_text())
    code, output = preview(repo)
    assert code == 2
    error = one_error(output)
    assert error.startswith("error: stacks/secondary/Pulumi.prod-us-west-2.yaml: would create the same physical names")
    assert SECONDARY in error and "(rflow-prod-euw1-*)" in error
    assert error.endswith(
        "Fix: run `pulumi config set --cwd stacks/secondary --stack prod-us-west-2 region us-west-2` "
        "(its stack name says us-west-2)"
    )


def test_a_secondary_whose_primary_region_is_not_the_primarys_is_an_error(repo: Path) -> None:
    edit(repo / SECONDARY, "primaryRegion: us-east-1", "primaryRegion: us-east-2")
    code, output = preview(repo)
    assert code == 2
    assert one_error(output) == (
        f"error: {SECONDARY}: regionflow-secondary:primaryRegion is us-east-2, but the primary stack ({PRIMARY}) "
        "deploys us-east-1. Fix: run `pulumi config set --cwd stacks/secondary --stack prod-eu-west-1 "
        "primaryRegion us-east-1`"
    )


def test_a_new_region_the_pipeline_does_not_list_warns_with_the_exact_entry(repo: Path) -> None:
    new = repo / "stacks" / "secondary" / "Pulumi.prod-us-west-2.yaml"
    new.write_text((repo / SECONDARY).read_text().replace("region: eu-west-1", "region: us-west-2"))
    code, output = preview(repo, "--quiet")
    assert code == 0, output
    [warning] = lines(output, "warning: ")
    assert warning == (
        "warning: stacks/secondary/Pulumi.prod-us-west-2.yaml: is not deployed by the pipeline: "
        f"{PIPELINE} has no secondaryStacks entry for it. Fix: add the entry "
        "{stack: organization/regionflow-secondary/prod-us-west-2, region: us-west-2} to "
        "regionflow-pipeline:secondaryStacks (run `pulumi config set --cwd stacks/pipeline --stack prod --path "
        "'secondaryStacks[2].stack' organization/regionflow-secondary/prod-us-west-2` and `pulumi config set --cwd "
        "stacks/pipeline --stack prod --path 'secondaryStacks[2].region' us-west-2`)"
    )
    # The pasted entry is what the pipeline expects: with it, the warning is gone and the pipeline deploys it.
    edit(
        repo / PIPELINE,
        "      region: eu-west-1\n",
        NEW_ENTRY,
    )
    code, output = preview(repo, "--quiet")
    assert code == 0 and not lines(output, "warning: "), output


def test_a_wrong_pipeline_entry_blames_the_pipeline_file(repo: Path) -> None:
    edit(repo / PIPELINE, "      region: eu-west-1", "      region: eu-west-2")
    code, output = preview(repo)
    assert code == 2
    assert one_error(output) == (
        f"error: {PIPELINE}: regionflow-pipeline:secondaryStacks[1].region is eu-west-2, but {SECONDARY} deploys "
        "prod-eu-west-1 to eu-west-1. Fix: run `pulumi config set --cwd stacks/pipeline --stack prod --path "
        "'secondaryStacks[1].region' eu-west-1`"
    )


def test_a_wrong_stack_file_region_blames_the_stack_file(repo: Path) -> None:
    edit(repo / SECONDARY, "regionflow-secondary:region: eu-west-1", "regionflow-secondary:region: eu-west-2")
    code, output = preview(repo)
    assert code == 2
    error = one_error(output)
    assert error.startswith(f"error: {SECONDARY}: regionflow-secondary:region is eu-west-2, but {PIPELINE} deploys")
    assert error.endswith("Fix: run `pulumi config set --cwd stacks/secondary --stack prod-eu-west-1 region eu-west-1`")


def test_a_name_prefix_that_only_one_region_changed_blames_that_region(repo: Path) -> None:
    edit(repo / SECONDARY, "config:\n", "config:\n  regionflow-secondary:namePrefix: rf\n")
    code, output = preview(repo)
    assert code == 2
    error = one_error(output)
    assert error.startswith(f"error: {SECONDARY}: regionflow-secondary:namePrefix is 'rf', but the pipeline")
    assert error.endswith("`pulumi config set --cwd stacks/secondary --stack prod-eu-west-1 namePrefix rflow`")


def test_a_too_long_prefix_states_the_limit_of_the_name_it_breaks(repo: Path) -> None:
    for file in (PIPELINE, PRIMARY, SECONDARY, "stacks/secondary/Pulumi.prod-ap-southeast-2.yaml"):
        project = re.search(r"(regionflow-\w+):", (repo / file).read_text())
        assert project is not None
        edit(repo / file, "config:\n", f"config:\n  {project[1]}:namePrefix: platform-prefix-x\n")
    code, output = preview(repo, "--stack", "regionflow-pipeline/prod")
    assert code == 2
    error = one_error(output)
    # The GitHub connection's name is the tightest: AWS allows 32 characters (CreateConnection).
    assert "codestar_connection name 'platform-prefix-x-prod-use1-github' is 34 characters; AWS allows 32" in error
    assert "shorten namePrefix to at most 15 characters (the codestar connection name may have at most 32)" in error


@pytest.mark.parametrize("mistake", ["missing", "other provider", "no encryptedkey"])
def test_every_deployed_stack_carries_the_pipelines_secrets_provider(repo: Path, mistake: str) -> None:
    text = (repo / SECONDARY).read_text()
    provider_line = f"secretsprovider: {SECRETS_PROVIDER}\n"
    assert provider_line in text
    if mistake == "missing":
        text = "\n".join(line for line in text.splitlines() if not line.startswith(("secretsprovider", "encryptedkey")))
    elif mistake == "other provider":
        text = text.replace(provider_line, "secretsprovider: passphrase\n")
    else:
        text = "\n".join(line for line in text.splitlines() if not line.startswith("encryptedkey"))
    (repo / SECONDARY).write_text(text + "\n")
    code, output = preview(repo)
    assert code == 2
    error = one_error(output)
    assert error.startswith(f"error: {SECONDARY}: ")
    assert f"`pulumi stack init prod-eu-west-1 --cwd stacks/secondary --secrets-provider '{SECRETS_PROVIDER}'`" in error
    assert (
        f"`pulumi stack change-secrets-provider --cwd stacks/secondary --stack prod-eu-west-1 '{SECRETS_PROVIDER}'`"
        in error
    )


def test_the_sample_stack_files_have_the_shape_pulumi_stack_init_writes() -> None:
    """secretsprovider and encryptedkey (base64) beside config: (facts-pulumi.md section 1)."""
    import base64

    from offline_support import STACKS_DIR

    from regionflow.yaml_loading import load_pulumi_yaml, plain

    for path in sorted(STACKS_DIR.glob("*/Pulumi.*.yaml")):
        document = plain(load_pulumi_yaml(path.read_text()))
        assert set(document) == {"secretsprovider", "encryptedkey", "config"}, path
        assert document["secretsprovider"] == SECRETS_PROVIDER, path
        assert len(base64.b64decode(document["encryptedkey"], validate=True)) > 32, path  # KMS ciphertext of a key
        assert "sample" in path.read_text().split("secretsprovider:")[0], path  # and says it is a made-up one


def test_a_name_prefix_only_the_pipeline_changed_blames_the_pipeline_once(repo: Path) -> None:
    edit(repo / PIPELINE, "config:\n", "config:\n  regionflow-pipeline:namePrefix: acme\n")
    code, output = preview(repo)
    assert code == 2
    assert one_error(output) == (
        f"error: {PIPELINE}: regionflow-pipeline:namePrefix is 'acme', but the regional stacks it deploys use "
        "'rflow'. Fix: run `pulumi config set --cwd stacks/pipeline --stack prod namePrefix rflow`"
    )
