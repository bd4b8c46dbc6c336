"""Applicants online: apply, upload materials, follow progress, rate the service."""

from __future__ import annotations

from . import bp  # noqa: F401
