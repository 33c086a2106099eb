"""The contract every stage shares: touchpoint events, journey outputs, the journey map.

Import from here: `from schemas import TouchpointEvent, validate, load_journey_map`.
"""
