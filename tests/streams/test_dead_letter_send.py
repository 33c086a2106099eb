"""The worker's dead letters: one the producer refuses still goes out, without its payload.

The contract keeps every dead letter under Kafka's default message limit (schemas.deadletters);
a deployment may configure a lower one. The worker must not stop on that message at every
restart: it sends the dead letter again with size and SHA-256 but without the payload.
"""

from __future__ import annotations

import asyncio

from faust.exceptions import ProducerSendError
from pydantic import BaseModel

from schemas.deadletters import dead_letter_of
from schemas.outputs import DeadLetter
from schemas.validation import validate
from streams.stages import Stages

LOWER_LIMIT_BYTES = 100_000


class SmallMessages:
    """The worker's publishing port, on a broker whose message limit is LOWER_LIMIT_BYTES."""

    def __init__(self) -> None:
        self.sent: list[BaseModel] = []

    async def publish(self, record: BaseModel) -> None:
        if len(record.model_dump_json()) > LOWER_LIMIT_BYTES:
            raise ProducerSendError("Error while sending: MessageSizeTooLargeError()")
        self.sent.append(record)


def test_a_dead_letter_the_producer_refuses_goes_without_its_payload() -> None:
    rejection = validate(b"\x01" * 100_000, "topic:touchpoints.web/0/9")  # 6 bytes each once escaped
    assert not isinstance(rejection, BaseModel)
    letter = dead_letter_of(rejection, "web")
    port = SmallMessages()
    asyncio.run(Stages.dead_letter(port, letter))  # type: ignore[arg-type]
    [sent] = port.sent
    assert isinstance(sent, DeadLetter) and sent.payload == "" and "payload not kept" in sent.reason
    assert (sent.source, sent.payload_sha256, sent.payload_bytes) == (letter.source, letter.payload_sha256,
                                                                      letter.payload_bytes)
