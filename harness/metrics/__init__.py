"""Full-reference and no-reference metrics under exactly named protocols."""

from harness.metrics.protocols import (
    METRIC_HIGHER_IS_BETTER,
    Protocol,
    get_protocol,
    protocol_names,
    protocol_summaries,
)

__all__ = [
    "METRIC_HIGHER_IS_BETTER",
    "Protocol",
    "get_protocol",
    "protocol_names",
    "protocol_summaries",
]
