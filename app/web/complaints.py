"""The complaints and hotline (12319) register of the supervision office."""

from __future__ import annotations

from . import bp  # noqa: F401
