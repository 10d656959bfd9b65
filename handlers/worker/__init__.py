"""The pull worker (``pushpool worker start``) for process, docker and kubernetes
pools and the hybrid types (``ecs``, ``cloud-run``, ...): the same provider
modules the dispatcher uses, driven from a loop that talks to the API only.

* ``api``: ``WorkerApi``, its port to the API (``pushpool.Client`` over HTTP, or
  ``handlers.local.worker_api.InProcessApi`` inside ``pushpool server --with-worker``);
* ``loop``: ``Worker`` and ``WorkerSettings`` (heartbeat, poll, claim, shutdown);
* ``starter``: a claimed run's job fetched, submitted, its infrastructure reported;
* ``monitor``: RUNNING, final states from exit codes, cancellation;
* ``reporter``: every state the worker proposes;
* ``ledger``: the runs it holds (its ``--limit``);
* ``setup``: the pool (created if missing) and its queues;
* ``health``: ``--with-healthcheck``.
"""

from handlers.worker.loop import Worker, WorkerSettings
from handlers.worker.setup import WorkerSetupError
from handlers.worker.starter import StartPolicy

__all__ = ["StartPolicy", "Worker", "WorkerSettings", "WorkerSetupError"]
