#!/usr/bin/env python3
"""A grpcurl-style end-to-end probe of a running loglens server.

It knows none of loglens's protos ahead of time: every message type is
discovered through gRPC server reflection (v1alpha, what grpcio-reflection's
client speaks) and built at run time. The probe checks, in order:

1. reflection lists the ingest, query, stats, health and reflection services;
2. grpc.health.v1.Health/Check("") answers SERVING;
3. IngestService/Ingest accepts one ERROR record with status 503;
4. QueryService/Search by that request_id finds it within --timeout seconds,
   flagged as an anomaly;
5. StatsService/GetStats counts at least one record.

On success it prints one JSON line summarising the run and exits 0; on any
failure it prints the reason to stderr and exits 1.

    python tests/grpc_reflection_client.py --addr 127.0.0.1:50051 --request-id probe-1
"""

import argparse
import json
import sys
import time

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

REQUIRED_SERVICES = (
    "logs.ingest.v1.IngestService",
    "logs.query.v1.QueryService",
    "logs.stats.v1.StatsService",
    "grpc.health.v1.Health",
)
REFLECTION_PREFIX = "grpc.reflection."
POLL_INTERVAL_S = 0.1


class ProbeError(Exception):
    """A check failed; the message says which and why."""


class DynamicClient:
    """Calls unary methods whose types come from the server's reflection."""

    def __init__(self, channel, rpc_timeout):
        self._channel = channel
        self._rpc_timeout = rpc_timeout
        self._db = ProtoReflectionDescriptorDatabase(channel)
        self._pool = descriptor_pool.DescriptorPool(self._db)

    def services(self):
        """Service names the server lists through reflection."""
        return sorted(self._db.get_services())

    def call(self, service, method, request):
        """Calls unary `service/method` with `request` given as a dict.

        Field names are the proto names; an unknown field is an error, so a
        schema drift fails loudly here rather than as a silent default.
        """
        try:
            service_desc = self._pool.FindServiceByName(service)
        except KeyError as e:
            raise ProbeError(f"reflection has no descriptor for service {service}: {e}") from e
        method_desc = service_desc.methods_by_name.get(method)
        if method_desc is None:
            known = ", ".join(sorted(service_desc.methods_by_name))
            raise ProbeError(f"service {service} has no method {method} (has: {known})")
        method_proto = descriptor_pb2.MethodDescriptorProto()
        method_desc.CopyToProto(method_proto)
        if method_proto.client_streaming or method_proto.server_streaming:
            raise ProbeError(f"{service}/{method} is streaming, expected unary")

        request_cls = message_factory.GetMessageClass(method_desc.input_type)
        response_cls = message_factory.GetMessageClass(method_desc.output_type)
        try:
            request_msg = json_format.ParseDict(request, request_cls())
        except json_format.ParseError as e:
            raise ProbeError(
                f"cannot build {method_desc.input_type.full_name} from {request!r}: {e}"
            ) from e

        stub = self._channel.unary_unary(
            f"/{service}/{method}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_cls.FromString,
        )
        try:
            return stub(request_msg, timeout=self._rpc_timeout)
        except grpc.RpcError as e:
            raise ProbeError(f"{service}/{method} failed: {e.code().name}: {e.details()}") from e


def check_services(client):
    """Fails unless every required service and a reflection service is listed."""
    try:
        services = client.services()
    except grpc.RpcError as e:
        raise ProbeError(f"reflection list_services failed: {e.code().name}: {e.details()}") from e
    missing = [s for s in REQUIRED_SERVICES if s not in services]
    if not any(s.startswith(REFLECTION_PREFIX) for s in services):
        missing.append(REFLECTION_PREFIX + "*")
    if missing:
        raise ProbeError(
            f"reflection does not list {', '.join(missing)}; listed: {', '.join(services)}"
        )
    return services


def check_health(channel, rpc_timeout):
    """Fails unless the overall health ("" service) is SERVING."""
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=rpc_timeout)
    except grpc.RpcError as e:
        raise ProbeError(f"health check failed: {e.code().name}: {e.details()}") from e
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        raise ProbeError(f"health status is {status}, expected SERVING")
    return status


def ingest_probe(client, request_id):
    """Ingests one record that the anomaly rules must flag; returns accepted."""
    record = {
        "service_name": "python-client",
        "level": "ERROR",
        "status_code": 503,
        "message": "reflection client probe",
        "request_id": request_id,
    }
    reply = client.call("logs.ingest.v1.IngestService", "Ingest", {"records": [record]})
    if reply.accepted != 1:
        rejected = json_format.MessageToDict(reply, preserving_proto_field_name=True)
        raise ProbeError(f"ingest accepted {reply.accepted} of 1 record: {json.dumps(rejected)}")
    return reply.accepted


def find_probe(client, request_id, timeout):
    """Polls Search by request_id until the record is searchable; returns it."""
    request = {"filter": {"request_id": request_id}, "size": 10}
    deadline = time.monotonic() + timeout
    while True:
        reply = client.call("logs.query.v1.QueryService", "Search", request)
        if reply.total >= 1:
            break
        if time.monotonic() >= deadline:
            raise ProbeError(
                f"record with request_id {request_id!r} not searchable after {timeout:g} s"
            )
        time.sleep(POLL_INTERVAL_S)

    matches = [e for e in reply.logs if e.request_id == request_id]
    if not matches:
        raise ProbeError(
            f"search reported total {reply.total} but returned no entry with request_id {request_id!r}"
        )
    entry = matches[0]
    if not entry.anomaly:
        found = json_format.MessageToDict(entry, preserving_proto_field_name=True)
        raise ProbeError(f"probe record is not flagged as an anomaly: {json.dumps(found)}")
    return entry


def check_stats(client):
    """Fails unless stats count at least one record; returns total_logs."""
    reply = client.call("logs.stats.v1.StatsService", "GetStats", {})
    if reply.total_logs < 1:
        raise ProbeError(f"stats total_logs is {reply.total_logs}, expected >= 1")
    return reply.total_logs


def run(args):
    """Runs every check against `args.addr`; returns the summary dict."""
    with grpc.insecure_channel(args.addr) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=args.connect_timeout)
        except grpc.FutureTimeoutError as e:
            raise ProbeError(
                f"cannot connect to {args.addr} within {args.connect_timeout:g} s"
            ) from e
        client = DynamicClient(channel, args.rpc_timeout)
        services = check_services(client)
        health = check_health(channel, args.rpc_timeout)
        accepted = ingest_probe(client, args.request_id)
        entry = find_probe(client, args.request_id, args.timeout)
        total_logs = check_stats(client)
    return {
        "addr": args.addr,
        "services": services,
        "health": health,
        "accepted": accepted,
        "entry": json_format.MessageToDict(entry, preserving_proto_field_name=True),
        "total_logs": total_logs,
    }


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Probe a loglens gRPC server using only server reflection."
    )
    parser.add_argument("--addr", required=True, help="host:port of the gRPC server")
    parser.add_argument(
        "--request-id", required=True, help="request_id of the probe record (make it unique)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds to wait for the record to become searchable (default 10)",
    )
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for the channel to connect (default 10)",
    )
    parser.add_argument(
        "--rpc-timeout", type=float, default=5.0, help="deadline of each RPC in seconds (default 5)"
    )
    args = parser.parse_args(argv)
    if not args.request_id.strip():
        parser.error("--request-id must not be empty")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        summary = run(args)
    except ProbeError as e:
        print(f"grpc_reflection_client: {e}", file=sys.stderr)
        return 1
    except grpc.RpcError as e:
        print(
            f"grpc_reflection_client: unexpected rpc error: {e.code().name}: {e.details()}",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
