"""Streams stage entry point for the Faust command line: `faust -A streams.app worker`.

Builds the app from the settings (JOURNEYS_* environment variables); the wiring lives in
streams.worker, which `journeys worker` uses directly. `journeys worker` also creates the pipeline
and work topics first; with the bare Faust command they must exist already.
"""

from __future__ import annotations

from foundation.settings import load_settings
from streams.worker import create_app

app = create_app(load_settings())
