"""Producers: channel adapters that validate touchpoint events, hash PII and publish to Kafka."""
