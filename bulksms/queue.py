"""The durable queue (Huey) and the worker that drains it.

Messages carry campaign ids only; the store holds everything else. The queue is
a SQLite file when no ``REDIS_URL`` is set (nothing to run on one machine), and
Redis otherwise, for web and worker processes on several machines.

Losing a queue message loses nothing: batches wait in the store as ``pending``,
and the worker's recovery (at start and every minute) queues any campaign that
has pending batches and no one working on them.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask, current_app
from huey import RedisHuey, SqliteHuey, crontab
from huey.api import Huey
from huey.consumer import Consumer

from bulksms.dispatch import Dispatcher

log = logging.getLogger(__name__)

EXTENSION = "bulksms.queue"
QUEUE_NAME = "bulksms"


class CampaignQueue:
    def __init__(self, huey: Huey, dispatcher: Dispatcher) -> None:
        self.huey = huey
        self._dispatcher = dispatcher
        self._send_task = huey.task(name="send_campaign")(self._send_campaign)
        huey.periodic_task(crontab(minute="*"), name="recover")(self._recover)

    def enqueue(self, campaign_id: str) -> None:
        self._send_task(campaign_id)
        log.info("campaign %s: queued for the worker", campaign_id)

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


def make_huey(redis_url: str | None, sqlite_path: str) -> Huey:
    if redis_url:
        return RedisHuey(QUEUE_NAME, url=redis_url)
    os.makedirs(os.path.dirname(sqlite_path) or ".", exist_ok=True)
    return SqliteHuey(QUEUE_NAME, filename=sqlite_path)


def init_app(app: Flask, queue: CampaignQueue) -> None:
    app.extensions[EXTENSION] = queue


def get_queue() -> CampaignQueue:
    queue: CampaignQueue = current_app.extensions[EXTENSION]
    return queue
