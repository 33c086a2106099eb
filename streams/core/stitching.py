"""Streams core, stage 3: a batch of commands (streams.core.commands) handled against the customers' states.

Each stage-3 message carries a batch of commands for the customers of one partition; they are
handled at once, which is what makes batches cheaper per event: a customer's state is folded,
described and stored once per message, not once per piece of it (consecutive events of one
customer are folded together). An absorbed customer keeps a tombstone pointing at its survivor,
so work that arrives for it later follows the merge (`Forward`, `Absorb` for the survivor); a
merge of a customer that was itself absorbed already (a chain) still retracts and hands over what
it has. Hand-overs of a move, and events forwarded by a tombstone, carry the move (spec) they
were sent on; a customer keeps the newest move it has seen and sends on what a newer one gives
to others.

States come from `load` (the adapter decodes them, and may give the layout it remembers with
them, streams.customer_states) and go back through `changed()`; nothing here knows how they are
stored.
"""

from __future__ import annotations

from collections.abc import Callable

from schemas.journeymap import JourneyMap
from streams.core.commands import Absorb, Command, Forward, Merge, Move, Stitch
from streams.core.devices import Spec, newest, reattribute, successor
from streams.core.fold import CustomerState, absorb, apply_many, release, retract
from streams.core.layout import Layout
from streams.core.records import Record
from streams.core.render import Document

Loaded = tuple[CustomerState, Layout | None]  # a customer's state, and its layout when known


class Stitching:
    """Stage 3 for one batch of commands: customer states loaded on demand, changed ones given back."""

    def __init__(self, journey_map: JourneyMap, load: Callable[[str], Loaded]) -> None:
        self.map, self.load = journey_map, load
        self.states: dict[str, CustomerState] = {}
        self.layouts: dict[str, Layout] = {}
        self.dirty: set[str] = set()
        self.handlers: dict[type, Callable[..., None]] = {Merge: self._merge, Absorb: self._absorb, Move: self._move}

    def state(self, customer_id: str) -> CustomerState:
        if customer_id not in self.states:
            self.states[customer_id], layout = self.load(customer_id)
            if layout is not None:
                self.layouts[customer_id] = layout
        return self.states[customer_id]

    def changed(self) -> dict[str, Loaded]:
        """The customers this batch changed: their states, with their layouts where they are current."""
        return {customer_id: (self.states[customer_id], self.layouts.get(customer_id)) for customer_id in self.dirty}

    def handle_batch(self, commands: list[Command]) -> tuple[list[Document], list[Command]]:
        """The records to send, and the commands for other customers (forwarded or handed over)."""
        outputs: list[Document] = []
        forwards: list[Command] = []
        pending: dict[str, list[Record]] = {}
        for command in commands:
            if isinstance(command, Stitch):
                pending.setdefault(command.customer_id, []).append(command.record)
                continue
            if isinstance(command, Forward):
                kept = self._keeps(command.customer_id, [command.record], command.spec, forwards)
                pending.setdefault(command.customer_id, []).extend(kept)
                continue
            self._fold(command.customer_id, pending.pop(command.customer_id, []), outputs, forwards)
            self.handlers[type(command)](command, outputs, forwards)
        for customer_id, records in pending.items():
            self._fold(customer_id, records, outputs, forwards)
        return outputs, forwards

    def _keep(self, customer_id: str, state: CustomerState, layout: Layout | None) -> None:
        self.states[customer_id] = state
        self.dirty.add(customer_id)
        if layout is None:
            self.layouts.pop(customer_id, None)
        else:
            self.layouts[customer_id] = layout

    def _fold(self, customer_id: str, records: list[Record], outputs: list[Document], forwards: list[Command]) -> None:
        if not records:
            return
        state = self.state(customer_id)
        if state.merged_into:
            forwards += [Forward(state.merged_into, r, state.spec) for r in records]
            return
        new, out, after = apply_many(state, records, customer_id, self.map, self.layouts.get(customer_id))
        self._keep(customer_id, new, after)
        outputs += out

    def _keeps(self, customer_id: str, records: list[Record], carried: Spec | None, forwards: list[Command],
               revision: int = 0) -> list[Record]:
        """Records handed over (or forwarded) with the move that sent them: when this customer knows
        a newer move, those it gives to others go on to them; the newer of the two is kept."""
        state = self.state(customer_id)
        spec = newest(state.spec, carried)
        if spec is not state.spec:
            state.spec = spec
            self._keep(customer_id, state, None if state.merged_into else self.layouts.get(customer_id))
        if spec is None or (carried is not None and spec["s"] <= carried["s"]):
            return records  # sent on the newest move this customer knows: it stays
        kept, moved = reattribute(records, spec, customer_id)
        forwards += [Absorb(target, revision, some, spec) for target, some in sorted(moved.items())]
        return kept

    def _absorb(self, command: Absorb, outputs: list[Document], forwards: list[Command]) -> None:
        customer_id, revision = command.customer_id, command.revision
        records = self._keeps(customer_id, command.records, command.spec, forwards, revision)
        state = self.state(customer_id)
        if state.merged_into:
            if records:
                forwards.append(Absorb(state.merged_into, revision, records, state.spec))
            return
        new, out, after = absorb(state, records, revision, customer_id, self.map, self.layouts.get(customer_id))
        self._keep(customer_id, new, after)
        outputs += out

    def _merge(self, command: Merge, outputs: list[Document], forwards: list[Command]) -> None:
        customer_id, survivor = command
        state = self.state(customer_id)
        gone, out, records = retract(state, customer_id, self.map, self.layouts.get(customer_id))
        gone.merged_into, gone.spec = survivor, state.spec  # the newest move it saw goes with its events
        self._keep(customer_id, gone, None)
        outputs += out
        forwards.append(Absorb(survivor, gone.revision, records, state.spec))

    def _move(self, command: Move, outputs: list[Document], forwards: list[Command]) -> None:
        customer_id, incoming = command
        state = self.state(customer_id)
        if state.merged_into:
            forwards.append(Move(state.merged_into, incoming))
            return
        spec = newest(state.spec, incoming) or incoming
        kept, moved = reattribute(state.events, spec, customer_id)
        heir = successor(spec, customer_id)
        if not moved and not heir:
            if spec is not state.spec:
                state.spec = spec
                self._keep(customer_id, state, self.layouts.get(customer_id))
            return
        new, out, after = release(state, kept, customer_id, self.map, self.layouts.get(customer_id))
        new.merged_into, new.spec = heir, spec  # a customer left without identifiers: work in flight follows
        self._keep(customer_id, new, after if not heir else None)
        outputs += out
        forwards += [Absorb(target, new.revision, records, spec) for target, records in sorted(moved.items())]
