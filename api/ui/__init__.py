"""The web UI: static pages (plain HTML + ES modules + a vendored Chart.js that draws the plots) served
by the API app. Every page reads the store through the public REST API, like any other client."""

from api.ui.pages import mount_ui

__all__ = ["mount_ui"]
