"""Streams pure core: data in, data out; nothing here imports Kafka, Faust, ClickHouse or a codec.

Named by concept, in the order an event meets them:
- `records`     the compact per-event record kept in customer state (and the core's time units)
- `identity`    the identity graph (with `identity_fold`, `devices`, `replay`): which customer an event belongs to
- `commands`    stage 2's typed commands for stage 3 (`resolve` makes them from the graph's answers)
- `boundaries`  journey boundaries: a customer's events cut into journeys, each described
- `friction`    the pain-point rules of the journey map over one journey (`rulekinds`, `ruletimes`)
- `layout`      a customer's whole picture at one moment; `diff` what differs between two
- `render`      the one renderer: layout parts -> output documents (and `model_of` for readers of models)
- `fold`        the per-customer fold `apply(state, record) -> (state, outputs)`
- `stitching`   stage 3: a batch of commands against the customers' states
- `pipeline`    the whole processor in one loop (reference, story tests); `view` the consumers' truth
Every decision the worker makes can be replayed and tested as a story: events in, journey out.
"""
