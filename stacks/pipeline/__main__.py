"""The pipeline stack: validate config, then build the pipeline that deploys every regional stack."""

from pathlib import Path

from regionflow.components.pipeline.stack import build_pipeline_stack
from regionflow.pipeline_config import load_pipeline_config

HERE = Path(__file__).resolve().parent

config = load_pipeline_config(repo_root=HERE.parents[1])
build_pipeline_stack(config, HERE / "buildspecs")
