"""Where the report templates and the one stylesheet live (no nbconvert import needed)."""

from __future__ import annotations

from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STYLESHEET = TEMPLATES_DIR / "tierwise" / "static" / "tierwise.css"


def stylesheet() -> str:
    """The stylesheet every page inlines (reports, index pages, data-quality pages)."""
    return STYLESHEET.read_text(encoding="utf-8")
