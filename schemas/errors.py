"""The project's exceptions: one root, specific subclasses that carry their data.

Bad *records* are never exceptions (they become dead-letter values); these are for failures of
configuration, infrastructure and commands, and each says what was wrong and where.
"""

from __future__ import annotations


class JourneysError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(JourneysError):
    """A configuration file or setting is invalid."""

    def __init__(self, source: str, field: str, reason: str) -> None:
        self.source, self.field, self.reason = source, field, reason
        super().__init__(f"{source}: {field}: {reason}")


class BrokerError(JourneysError):
    """The Kafka broker could not be started, reached or used."""


class DeliveryError(BrokerError):
    """A message could not be delivered to Kafka."""

    def __init__(self, topic: str, partition: int | None, reason: str) -> None:
        self.topic, self.partition, self.reason = topic, partition, reason
        where = topic if partition is None else f"{topic}[{partition}]"
        super().__init__(f"delivery to {where} failed: {reason}")


class WarehouseError(JourneysError):
    """ClickHouse could not be reached, or a statement failed."""


class MigrationError(WarehouseError):
    """A migration could not be applied, or an applied one was changed."""

    def __init__(self, version: str, reason: str) -> None:
        self.version, self.reason = version, reason
        super().__init__(f"migration {version}: {reason}")


class UnknownQueryError(JourneysError):
    """A named analytical query does not exist."""


class MacroError(JourneysError):
    """A Grafana query macro or variable reference could not be expanded."""

    def __init__(self, macro: str, reason: str) -> None:
        self.macro, self.reason = macro, reason
        super().__init__(f"macro {macro}: {reason}")


class GrafanaError(JourneysError):
    """Grafana could not be reached, or refused a dashboard, data source, folder or alert rule."""

    def __init__(self, item: str, reason: str) -> None:
        self.item, self.reason = item, reason
        super().__init__(f"grafana {item}: {reason}")


class RenderError(JourneysError):
    """A report could not be rendered (a renderer is missing or failed)."""

    def __init__(self, tool: str, reason: str) -> None:
        self.tool, self.reason = tool, reason
        super().__init__(f"{tool}: {reason}")


class ErasureError(JourneysError):
    """A customer could not be forgotten: the identifier is unreadable, or a step failed."""

    def __init__(self, identifier: str, reason: str) -> None:
        self.identifier, self.reason = identifier, reason
        super().__init__(f"forget {identifier}: {reason}")
