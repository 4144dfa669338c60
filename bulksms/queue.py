"""The durable queue (Huey) and the worker that drains it.

Messages carry campaign ids only; the store holds everything else. The queue is
a SQLite file when no ``REDIS_URL`` is set (nothing to run on one machine), and
Redis otherwise, for web and worker processes on several machines.

Losing a queue message loses nothing: batches wait in the store as ``pending``,
and the worker's recovery (at start and every minute) queues any campaign that
has pending batches and no one working on them. That includes a campaign whose
message could not be queued at all because Redis went down after intake.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from typing import Any

import redis
from flask import Flask, current_app
from huey import RedisHuey, SqliteHuey, crontab
from huey.api import Huey
from huey.consumer import Consumer

from bulksms.dispatch import Dispatcher
from bulksms.errors import QueueUnavailable
from bulksms.settings import REDIS_URL, masked_url

log = logging.getLogger(__name__)

EXTENSION = "bulksms.queue"
QUEUE_NAME = "bulksms"


# What Huey's storages raise when their Redis server or SQLite file is out of reach.
_STORAGE_ERRORS = (redis.RedisError, sqlite3.Error)


class CampaignQueue:
    """Campaign ids on their way to the worker. ``unreachable`` opens the message
    saying that the queue's storage did not answer, and names where it is."""

    def __init__(self, huey: Huey, dispatcher: Dispatcher, *, unreachable: str) -> None:
        self.huey = huey
        self._dispatcher = dispatcher
        self._unreachable_prefix = unreachable
        self._send_task = huey.task(name="send_campaign")(self._send_campaign)
        huey.periodic_task(crontab(minute="*"), name="recover")(self._recover)

    def check(self) -> None:
        """Raise ``QueueUnavailable`` unless the queue's storage answers."""
        try:
            self.huey.pending_count()
        except _STORAGE_ERRORS as exc:
            raise QueueUnavailable(self._unreachable(exc)) from exc

    def enqueue(self, campaign_id: str) -> None:
        try:
            self._send_task(campaign_id)
        except _STORAGE_ERRORS as exc:
            raise QueueUnavailable(self._unreachable(exc)) from exc
        log.info("campaign %s: queued for the worker", campaign_id)

    def _unreachable(self, exc: Exception) -> str:
        return f"{self._unreachable_prefix}: {exc}"

    def _send_campaign(self, campaign_id: str) -> None:
        self._dispatcher.dispatch(campaign_id)

    def _recover(self, restarting: bool = False) -> None:
        for campaign_id in self._dispatcher.recover(restarting=restarting):
            self.enqueue(campaign_id)

    def run_worker(self, threads: int) -> None:
        """Run the consumer in the foreground until SIGINT or SIGTERM."""
        self._recover(restarting=True)
        consumer = _Consumer(
            self.huey,
            self._dispatcher,
            workers=threads,
            worker_type="thread",
            periodic=True,
            max_delay=1.0,
        )
        consumer.run()


class _Consumer(Consumer):  # type: ignore[misc]
    """Huey's consumer, which also stops the dispatcher when it stops.

    Huey stops on SIGTERM at once and on SIGINT after its tasks end; either way
    a task may be a campaign whose batches wait hours for a pacing turn, and
    the interpreter would not exit before the sending threads do.
    """

    def __init__(self, huey: Huey, dispatcher: Dispatcher, **options: Any) -> None:
        super().__init__(huey, **options)
        self._dispatcher = dispatcher

    def stop(self, graceful: bool = False) -> None:
        self._dispatcher.stop()
        super().stop(graceful=graceful)


def make_queue(
    redis_url: str | None, sqlite_path: str, dispatcher: Dispatcher
) -> CampaignQueue:
    """The queue in Redis when ``redis_url`` is set, else in a SQLite file."""
    if redis_url:
        return CampaignQueue(
            RedisHuey(QUEUE_NAME, url=redis_url),
            dispatcher,
            unreachable=f"{REDIS_URL}: cannot connect to {masked_url(redis_url)}",
        )

    os.makedirs(os.path.dirname(sqlite_path) or ".", exist_ok=True)
    return CampaignQueue(
        SqliteHuey(QUEUE_NAME, filename=sqlite_path),
        dispatcher,
        unreachable=f"the queue file {sqlite_path}",
    )


def init_app(app: Flask, queue: CampaignQueue) -> None:
    app.extensions[EXTENSION] = queue


def get_queue() -> CampaignQueue:
    queue: CampaignQueue = current_app.extensions[EXTENSION]
    return queue
