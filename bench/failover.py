"""Benchmark: how long a dead host's claimed rows wait before they are sent again.

Runs the deployment of tests/core/test_hosts.py (tests/hosts.py): host A with the web app and a worker,
hosts B and C with a worker and a scheduler each, every host in namespaces of its own with a data folder
the others cannot see, sharing a new PostgreSQL database (made beside --database-url's, dropped after)
and a Redis server. A campaign paced by a per-domain limit goes out through each host's port of an SMTP
relay on loopback. The host running the active scheduler is killed (its whole process tree at once) while
its connections have messages in flight, then, once those were sent again (or WATCH_SECONDS passed), the
other worker host.

For each death it measures, from the moment of the kill: ``scheduler_s``, until a scheduler on a live host
holds the lock; ``resent_s``, until every message the host had in flight had arrived again (the figure the
target is for); ``rows_sent_s``, until every row leased at the death had been sent. Then the campaign's
end, what was lost, what arrived twice (and of those copies, how many carry another Message-ID than the
one recorded), and how many messages lack the sender's address and contact. Prints one JSON line, last.
Run: .venv/bin/python -m bench.failover --database-url postgresql://postgres@127.0.0.1/kairan
     [--recipients 600] [--lease-seconds 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from redis import Redis
from sqlalchemy.engine import make_url

from bench import scratch_folder
from core.embedded import private_redis
from tests.hosts import (
    CONTACT,
    POSTAL_ADDRESS,
    Death,
    Deliveries,
    Deployment,
    Relay,
    active_scheduler_host,
    api_user,
    kill_mid_send,
    namespaces_missing,
    paced_campaign,
    postgres_database,
    start_three_hosts,
    three_hosts,
    wait_until,
)

TARGET_SECONDS = 30
WATCH_SECONDS = 180  # a figure not reached by then is reported as null
FINISH_SECONDS = 300


def main() -> None:
    """Start the hosts, send, kill two of them, and measure."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True, help="a PostgreSQL URL; a database beside it is used")
    parser.add_argument("--recipients", type=int, default=600)
    parser.add_argument("--lease-seconds", type=int, default=5)
    args = parser.parse_args()
    missing = namespaces_missing()
    if missing:
        sys.exit(f"Each host needs namespaces of its own, and {missing}.")
    folder = scratch_folder("failover")
    relay = Relay()
    name = f"{make_url(args.database_url).database}_failover"
    try:
        with private_redis(folder / "redis") as redis_url, postgres_database(args.database_url, name) as database:
            deployment = three_hosts(folder, database, redis_url, relay,
                                     KAIRAN_SEND_LEASE_SECONDS=str(args.lease_seconds))
            try:
                start_three_hosts(deployment)
                result = run(deployment, args.recipients)
            finally:
                deployment.stop()
    finally:
        relay.close()
    print(json.dumps({"benchmark": "failover", "recipients": args.recipients, "lease_seconds": args.lease_seconds,
                      **result, "target_resent_s": TARGET_SECONDS}))


def run(deployment: Deployment, recipients: int) -> dict[str, Any]:
    """Send the campaign through both deaths; return the figures."""
    api = api_user(deployment)
    campaign_id, addresses = paced_campaign(api, recipients)
    connection = Redis.from_url(deployment.redis_url)
    deliveries = Deliveries(deployment.database_url, campaign_id)
    try:
        started = time.monotonic()
        api.ok("PUT", f"/api/campaigns/{campaign_id}/status", {"status": "running"})
        first = active_scheduler_host(connection) or "host-b"
        other = "host-c" if first == "host-b" else "host-b"
        deaths = []
        for host in (first, other):
            try:
                death = kill_mid_send(deployment, host, deliveries)
            except TimeoutError as error:  # the campaign had ended, or stalled, before this host sent again
                deaths.append({"host": host, "not_killed": str(error)})
                break
            deaths.append(measure(death, deployment, deliveries, connection))
        finished = _wait(lambda: deliveries.campaign_status() == "finished", FINISH_SECONDS)
        copies = deployment.relay.copies()
        recorded = deliveries.message_ids()
        return {"deaths": deaths,
                "finished_s": round(time.monotonic() - started, 1) if finished else None,
                "lost": sum(1 for address in addresses if address not in copies),
                "duplicates": sum(len(got) - 1 for got in copies.values()),
                # a copy whose Message-ID is not the one recorded: a receiver cannot tell it is the same message
                "copies_with_another_message_id": sum(c.message_id != recorded.get(address)
                                                      for address, got in copies.items() if len(got) > 1 for c in got),
                "without_footer": sum(not all(POSTAL_ADDRESS in part and CONTACT in part for part in c.parts())
                                      for got in copies.values() for c in got),
                "sent_by_host": {host: sum(c.host == host for got in copies.values() for c in got)
                                 for host in deployment.hosts}}
    finally:
        deliveries.close()


def measure(death: Death, deployment: Deployment, deliveries: Deliveries, connection: Redis) -> dict[str, Any]:
    """The seconds from one death until a scheduler lives again, its messages in flight were sent again and
    every row leased at it was sent (None: not within WATCH_SECONDS)."""
    def scheduler_back() -> float | None:
        holder = active_scheduler_host(connection)
        return time.monotonic() - death.at if holder not in (death.host, None) else None

    return {"host": death.host, "in_flight": len(death.in_flight), "rows_leased": len(death.leased), **watch({
        "scheduler_s": scheduler_back,
        "resent_s": lambda: death.resent_after(deployment.relay),
        "rows_sent_s": lambda: death.rows_back_after(deliveries),
    })}


def watch(conditions: dict[str, Callable[[], float | None]]) -> dict[str, float | None]:
    """Poll every condition until each has given its seconds (or WATCH_SECONDS pass); return them, rounded."""
    found: dict[str, float | None] = dict.fromkeys(conditions)
    deadline = time.monotonic() + WATCH_SECONDS
    while any(value is None for value in found.values()) and time.monotonic() < deadline:
        for name, condition in conditions.items():
            if found[name] is None and (seconds := condition()):
                found[name] = round(float(seconds), 1)
        time.sleep(0.1)
    return found


def _wait(condition: Any, timeout: float) -> bool:
    try:
        wait_until(condition, timeout, "the campaign to finish")
    except TimeoutError:
        return False
    return True


if __name__ == "__main__":
    main()
