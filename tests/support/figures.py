"""What a test reads of a plot the sweep page drew (figure_view.js keeps the figure on the element)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from playwright.sync_api import Page


def traces(page: Page, plot_id: str) -> list[dict[str, Any]]:
    """The figure's traces as the page drew them: role (`meta.role`), legend name, point count."""
    return page.evaluate(
        "id => (document.getElementById(id).figure?.data || [])"
        ".map(t => ({role: (t.meta || {}).role, name: t.name, points: (t.x || []).length}))",
        plot_id,
    )


def roles(page: Page, plot_id: str) -> Counter[str]:
    return Counter(t["role"] for t in traces(page, plot_id))
