"""Experiment-tracking set-up shared by the CLI."""
