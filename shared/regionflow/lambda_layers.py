"""The AWS-managed Powertools for AWS Lambda (Python) layer: the one setting for its version.

The deployment logger does not bundle Powertools; it uses the layer AWS publishes in every
commercial region from account 017000801446. Bump :data:`POWERTOOLS_LAYER_VERSION` (or set the
stack's ``powertoolsLayerVersion`` config) to move every region at once. The latest version for a
region is published as an SSM public parameter::

    aws ssm get-parameter --region eu-west-1 \\
        --name /aws/service/powertools/python/arm64/python3.13/latest
"""

from __future__ import annotations

from regionflow.regions import PARTITION, SUPPORTED_REGIONS

POWERTOOLS_LAYER_ACCOUNT = "017000801446"
POWERTOOLS_LAYER_VERSION = 27
LOGGER_RUNTIME = "python3.13"
LOGGER_ARCHITECTURE = "arm64"  # Graviton: cheaper per GB-second, and the layer ships an arm64 build


def powertools_layer_arn(
    region: str,
    *,
    version: int | None = None,
    runtime: str = LOGGER_RUNTIME,
    architecture: str = LOGGER_ARCHITECTURE,
) -> str:
    """ARN of the Powertools V3 layer for ``region``, runtime and architecture."""
    if region not in SUPPORTED_REGIONS:
        raise ValueError(f"no Powertools layer is known for region {region!r}")
    if architecture not in ("arm64", "x86_64"):
        raise ValueError(f"architecture must be arm64 or x86_64, not {architecture!r}")
    python_tag = runtime.replace(".", "")  # python3.13 -> python313, the layer's naming
    layer_version = POWERTOOLS_LAYER_VERSION if version is None else version
    return (
        f"arn:{PARTITION}:lambda:{region}:{POWERTOOLS_LAYER_ACCOUNT}:layer:"
        f"AWSLambdaPowertoolsPythonV3-{python_tag}-{architecture}:{layer_version}"
    )
