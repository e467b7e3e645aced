"""Sends documents through the official Python `elasticsearch` client's
`helpers.bulk` to loglens' `_bulk` drop-in and prints a JSON summary.

Usage: es_bulk_client.py --url http://HOST:PORT --run-id ID
"""

import argparse
import json

from elasticsearch import Elasticsearch, helpers


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--run-id", required=True)
    a = p.parse_args()
    es = Elasticsearch(a.url, request_timeout=30)
    info = es.info()
    docs = [
        {
            "_op_type": "create",
            "_index": "logs-checkout-default",
            "_source": {
                "@timestamp": "2024-05-01T12:00:00.250Z",
                "message": f"payment declined {a.run_id}",
                "log": {"level": "error", "file": {"path": "/var/log/pay.log"}},
                "service": {"name": "payment-service"},
                "host": {"name": "web-1"},
                "trace": {"id": a.run_id},
                "event": {"duration": 12_500_000},
                "kubernetes": {"pod": {"name": "pay-7d9"}},
            },
        },
        # Invalid level: refused alone, its neighbours kept.
        {
            "_op_type": "create",
            "_index": "logs-checkout-default",
            "_source": {"message": f"bad level {a.run_id}", "log.level": "loud",
                        "service.name": "payment-service", "trace.id": a.run_id},
        },
        {
            "_index": "inventory",
            "_source": {"@timestamp": 1714564801000, "message": f"stock low {a.run_id}",
                        "log.level": "warning", "trace.id": a.run_id},
        },
    ]
    ok, errors = helpers.bulk(es, docs, raise_on_error=False, stats_only=False)
    print(json.dumps({"version": info["version"]["number"], "ok": ok, "errors": errors}))


if __name__ == "__main__":
    main()
