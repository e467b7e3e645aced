"""Exports log records to loglens with the real OpenTelemetry Python SDK
(tests/otlp.rs): a Logs API logger and the standard `logging` bridge, over
OTLP/gRPC or OTLP/HTTP (protobuf). Prints one JSON line with the result of
every export call; exits 1 if any failed."""

import argparse
import json
import logging
import sys

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

TRACE_ID = 0x5B8EFFF798038103D269B633813FC60C
SPAN_ID = 0xEEE19B7EC3C1B174


class Recording:
    """Wraps an exporter, keeping each export's result."""

    def __init__(self, inner):
        self.inner = inner
        self.results = []

    def export(self, batch):
        result = self.inner.export(batch)
        self.results.append(result.name)
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--protocol", choices=["grpc", "http"], required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--service", required=True)
    a = p.parse_args()
    if a.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        exporter = OTLPLogExporter(endpoint=a.endpoint, insecure=True, timeout=10)
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        exporter = OTLPLogExporter(endpoint=a.endpoint, timeout=10)
    exporter = Recording(exporter)
    provider = LoggerProvider(
        resource=Resource.create({"service.name": a.service, "deployment.environment": "e2e"})
    )
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))

    logger = provider.get_logger("checkout.payments", "2.1.0")
    span = trace.NonRecordingSpan(
        trace.SpanContext(TRACE_ID, SPAN_ID, is_remote=False, trace_flags=trace.TraceFlags(1))
    )
    logger.emit(
        timestamp=1714564800123456789,
        severity_number=SeverityNumber.WARN,
        severity_text="WARN",
        body=f"payment retried over {a.protocol}",
        attributes={"http.response.status_code": 503, "user.id": "u-42", "retry": 2},
        context=trace.set_span_in_context(span),
    )
    logger.emit(
        timestamp=1714564801000000000,
        severity_number=SeverityNumber.FATAL,
        body={"error": "card declined", "code": 51},
        attributes={"payment.amount": 12.5},
    )
    # A record with neither body nor event name: loglens rejects it
    # (partial success), the exporter still reports success.
    logger.emit(timestamp=1714564802000000000, severity_number=SeverityNumber.INFO)

    bridge = logging.getLogger("bridge")
    bridge.propagate = False
    bridge.setLevel(logging.DEBUG)
    bridge.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=provider))
    bridge.debug("cache miss for %s", "sku-1")

    provider.shutdown()
    print(json.dumps({"results": exporter.results}))
    return 0 if exporter.results and all(r == "SUCCESS" for r in exporter.results) else 1


if __name__ == "__main__":
    sys.exit(main())
