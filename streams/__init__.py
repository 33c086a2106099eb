"""Streams: the Faust processor that resolves identity, stitches journeys and detects friction."""
