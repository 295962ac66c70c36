"""The HTTP control plane: REST API and web UI over the orchestrator."""
