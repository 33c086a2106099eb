"""Streams pure core: identity graph, journey stitching and friction rules, data in, data out.

Nothing here imports Kafka, Faust or ClickHouse, so every decision the worker makes can be
replayed and tested as a story: events in, journey out.
"""
