"""Public pages: the service guide and catalogue, and the published licensing results."""

from __future__ import annotations

from . import bp  # noqa: F401
