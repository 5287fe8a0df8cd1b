"""Implementations of the regionflow subcommands."""
