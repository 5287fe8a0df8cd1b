"""One ComponentResource per cohesive unit of infrastructure."""
