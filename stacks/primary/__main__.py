"""The primary regional stack: validate config, build the region's infrastructure, export the contract."""

from pathlib import Path

from regionflow.components.regional import build_regional_stack
from regionflow.config import load_regional_config
from regionflow.contract import export_regional

FUNCTION_DIR = Path(__file__).resolve().parents[2] / "functions" / "deployment_logger"

config = load_regional_config("primary")
export_regional(build_regional_stack(config, FUNCTION_DIR))
