"""Producers stage, the browser side of the collector: what a page may send and how it sends it.

`access` decides (CORS, write keys, what a key may publish), `ratelimit` keeps the token buckets,
and `journeys.js` is the script pages load from the collector (GET /v1/journeys.js).
"""
