"""The foundation every stage stands on: settings, Kafka client options, the local broker and
offset marks.

It exists so that producers, streams, the warehouse sink and the dashboards can share these
without importing one another or the command layer (`journeys/`). It imports the contract
(`schemas/`) and no stage.
"""
