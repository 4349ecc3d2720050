"""`flask worker`: an RQ worker whose jobs run inside the Flask app context.

The app is created once per worker process (by `flask worker`, or here when started as
`rq worker -w jobs.worker.AppWorker`). RQ forks a work-horse per job: the horse first
drops the database connections it inherited, because a pooled connection must never be
shared across a fork (the parent may be using it), then runs the job in an app context
whose session is removed when the job ends.
"""

from flask import Flask
from rq import Worker

from app.extensions import db

# Highest priority first: a worker takes from the first non-empty queue.
QUEUE_ORDER = ("billing", "payments", "notifications", "usage", "default")


class AppWorker(Worker):
    """An RQ worker bound to one Flask app."""

    def __init__(self, queues, *args, app: Flask | None = None, **kwargs):
        if app is None:
            from app import create_app

            app = create_app()
        self.app = app
        super().__init__(queues, *args, **kwargs)

    def main_work_horse(self, job, queue):
        """In the forked horse: forget the parent's pooled connections, then work."""
        with self.app.app_context():
            db.engine.dispose(close=False)
        super().main_work_horse(job, queue)

    def perform_job(self, job, queue) -> bool:
        with self.app.app_context():
            return super().perform_job(job, queue)
