"""The rollout driver: a thread in every server process that steps the active deployments once a second."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.exc import SQLAlchemyError

from .database import Database
from .store import deployments

log = logging.getLogger(__name__)

STEP_S = 1.0


class RolloutDriver:
    """Steps each active deployment (store/deployments.py `advance`) in its own transaction. With several
    processes on one PostgreSQL, a deployment another process is stepping is skipped (SKIP LOCKED)."""

    def __init__(self, database: Database, step_s: float = STEP_S):
        self.database = database
        self.step_s = step_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="rollouts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.step_s):
            self.step()

    def step(self) -> None:
        """One step of every active deployment; a failure is logged and tried again at the next step."""
        try:
            with self.database.transaction() as session:
                ids = deployments.active_ids(session)
        except SQLAlchemyError as exc:
            log.warning("cannot list the active deployments: %s", exc)
            return
        for deployment_id in ids:
            try:
                with self.database.transaction() as session:
                    deployment = deployments.lock_active(session, deployment_id)
                    if deployment is not None:
                        before = (deployment.status, deployment.stage)
                        deployments.advance(session, deployment)
                        if (deployment.status, deployment.stage) != before:
                            log.info("deployment %s: %s, stage %d%s", deployment.sid, deployment.status,
                                     deployment.stage + 1,
                                     f" ({deployment.halt_reason})" if deployment.halt_reason else "")
            except SQLAlchemyError as exc:
                log.warning("cannot step deployment %d: %s", deployment_id, exc)
