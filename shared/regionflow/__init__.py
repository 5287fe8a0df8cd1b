"""regionflow: the shared package every regionflow Pulumi project installs."""

__version__ = "0.1.0"
