"""The AWS regions regionflow can deploy to, and their short codes for physical names.

A region qualifies only when CodePipeline, CodeBuild and Lambda are all offered there, because every
regional stack runs a logger Lambda and every region is a deploy target of the pipeline. The list is
static so that programs validate config without boto3; ``tests/test_regions.py`` checks it against
botocore's endpoint data so it cannot drift silently. Only the commercial ``aws`` partition is
supported (China and GovCloud use other ARN partitions and Powertools layer accounts).
"""

from __future__ import annotations

import re

PARTITION = "aws"

SUPPORTED_REGIONS: frozenset[str] = frozenset(
    {
        "af-south-1",
        "ap-east-1",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-6",
        "ca-central-1",
        "eu-central-1",
        "eu-central-2",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "il-central-1",
        "me-central-1",
        "me-south-1",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
    }
)

_REGION_SHAPE = re.compile(r"^(?P<area>[a-z]{2})-(?P<direction>[a-z]+)-(?P<number>\d+)$")
_DIRECTION_CODES = {
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
    "central": "c",
    "northeast": "ne",
    "northwest": "nw",
    "southeast": "se",
    "southwest": "sw",
}


def region_code(region: str) -> str:
    """Short, unique code for a region: ``eu-west-1`` -> ``euw1``, ``ap-southeast-2`` -> ``apse2``.

    Physical names carry the region so that the same stack in two regions never collides on
    account-global names (IAM roles, S3 buckets); the short form leaves room under AWS's limits.
    """
    match = _REGION_SHAPE.match(region)
    if match is None or match["direction"] not in _DIRECTION_CODES:
        raise ValueError(f"{region!r} is not a region name like 'eu-west-1'")
    return f"{match['area']}{_DIRECTION_CODES[match['direction']]}{match['number']}"


def closest_regions(region: str, limit: int = 3) -> list[str]:
    """Supported regions that look most like a mistyped one, to put in an error's fix."""
    import difflib

    return difflib.get_close_matches(region, sorted(SUPPORTED_REGIONS), n=limit, cutoff=0.6)
