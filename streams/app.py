"""Streams stage entry point for the Faust command line: `faust -A streams.app worker`.

Builds the app from the settings (JOURNEYS_* environment variables) with streams.worker; the
stages and topics are wired in streams.topology. This app runs the stream stages only: `journeys
worker` builds the same app through journeys.bootstrap (adding the warehouse sink with `--sink`)
and also creates the pipeline and work topics first; with the bare Faust command they must exist
already.
"""

from __future__ import annotations

from foundation.settings import load_settings
from streams.worker import create_app

app = create_app(load_settings())
