"""Reporters: ``render(report, fmt) -> str``. Pure functions of a :class:`Report`."""

from __future__ import annotations

import json

from kapsec.model.findings import Report


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=False) + "\n"


def render(report: Report, fmt: str) -> str:
    """Render ``report`` in format ``fmt`` (``text``, ``json``, ``sarif``, ``junit``, ``markdown``, ``html``)."""
    if fmt == "json":
        return render_json(report)
    # The full set of reporters is built in kapsec.report.* modules; until one exists, JSON.
    from importlib import import_module

    try:
        module = import_module(f"kapsec.report.{fmt}")
    except ModuleNotFoundError:
        return render_json(report)
    out: str = module.render(report)
    return out
