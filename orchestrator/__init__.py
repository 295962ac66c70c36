"""Drives a μTransfer study from sweep definition to target run: store, executor, planner, CLI."""
