"""The background scheduler: BPMN timers, yellow and red cards, A/B moves; one leader acts.

It does not poll on a fixed period: after each round it sleeps until the earliest due
time in the database. A step that creates an earlier timer wakes it at once (in this
process through the timers hook of `app.hooks`, which the scheduler subscribes to when it
starts; in other processes through PostgreSQL's LISTEN/NOTIFY). The scheduler imports the
domains; they never import it. Several app
processes may run a scheduler; a lock (a PostgreSQL advisory lock, or a file lock next
to the SQLite database) lets exactly one of them fire timers.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import threading
from pathlib import Path

import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from .db import get_engine, session, utcnow
from .hooks import TIMERS_CHANNEL, subscribe_presence, subscribe_timers, unsubscribe
from .timerlanes import PROCESS_MIN_GROUPS, ProcessLanes, fire_groups

log = logging.getLogger("onewindow.scheduler")
ADVISORY_KEY = 0x4F57_0001  # "OW" 1
FALLBACK_SECONDS = 30  # a safety net only (SCHEDULER_FALLBACK_SECONDS); wake-ups come from steps
STATS_START_DELAY = dt.timedelta(seconds=5)


class LeaderLock:
    """Hold the right to fire timers; at most one process holds it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn = None
        self._file = None
        self._mutex = threading.Lock()  # two rounds of one process must not both try

    def acquire(self) -> bool:
        """Take the lock if nobody holds it; return whether this process holds it."""
        with self._mutex:
            return self._acquire()

    def _acquire(self) -> bool:
        if self._conn is not None and not self._still_connected():
            log.warning("the leader lock's connection is gone (a database restart?): taking again")
        if self._conn is not None or self._file is not None:
            return True
        if self.url.startswith("postgresql"):
            engine = get_engine()
            conn = engine.connect()
            got = conn.execute(sa.select(sa.func.pg_try_advisory_lock(ADVISORY_KEY))).scalar()
            conn.commit()
            if got:
                self._conn = conn
            else:
                conn.close()
            return bool(got)
        path = Path(sa.engine.make_url(self.url).database or "onewindow").with_suffix(".lock")
        handle = path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def _still_connected(self) -> bool:
        """A session lock lives as long as its connection: check that the connection does;
        if not, forget it (the lock went with it, another process may hold it now)."""
        try:
            self._conn.exec_driver_sql("SELECT 1")
            self._conn.commit()
            return True
        except sa.exc.DBAPIError:
            self._conn.invalidate()
            self._conn.close()
            self._conn = None
            return False

    def release(self) -> None:
        """Give the lock up (a pooled connection keeps session locks: unlock first)."""
        with self._mutex:
            if self._conn is not None:
                try:
                    self._conn.execute(sa.select(sa.func.pg_advisory_unlock(ADVISORY_KEY)))
                    self._conn.commit()
                except sa.exc.DBAPIError:
                    self._conn.invalidate()  # a broken connection: drop it, and its lock
                self._conn.close()
                self._conn = None
            if self._file is not None:
                self._file.close()
                self._file = None


class TimerScheduler:
    """Fire due timers; sleep until the next due time."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.leader = LeaderLock(app.config["DATABASE_URL"])
        self.scheduler = BackgroundScheduler(timezone=dt.UTC)
        self._next: dt.datetime | None = None
        self._lock = threading.Lock()
        self._running = threading.Lock()
        self._again = False
        self._stop = threading.Event()
        self.fired = 0
        self.warned = 0
        self._count = threading.Lock()  # lanes add to `fired` from several threads
        self._pool = None  # the lanes' threads, made on the first burst
        # lanes firing at once: PostgreSQL overlaps one lane's engine step with another's
        # statements; SQLite has one writer at a time, so one lane
        sqlite = app.config["DATABASE_URL"].startswith("sqlite")
        self.workers = max(1, int(app.config.get("TIMER_WORKERS") or (1 if sqlite else 4)))
        self.batch = int(app.config.get("TIMER_BATCH") or 1000)
        # and lanes as processes for a burst (app/timerlanes.py): PostgreSQL, one per core
        processes = app.config.get("TIMER_PROCESSES")
        if processes is None:
            processes = 0 if sqlite else (os.cpu_count() or 1)
        self.lanes = ProcessLanes(app, max(0, int(processes)))

    def start(self) -> None:
        """Start the scheduler thread (and the PostgreSQL listener); from now on, new due
        times and absence boundaries announced in this app wake it (it replaces the
        subscription of a scheduler started before it)."""
        self.scheduler.start()
        subscribe_timers(self.app, self.schedule)
        subscribe_presence(self.app, self.presence_changed)
        for job, name in (
            (self.round, "timers-fallback"),
            (self.presence_round, "presence-fallback"),
            (self.warning_round, "warnings-fallback"),
        ):
            self.scheduler.add_job(
                job, "interval", seconds=self.app.config.get("SCHEDULER_FALLBACK_SECONDS",
                FALLBACK_SECONDS), id=name, max_instances=1, coalesce=True,
            )  # fmt: skip
        self.schedule(utcnow())
        self.schedule_presence(utcnow())
        self.schedule_warnings(utcnow())
        # the statistics cache: soon after start-up (not in the same instant as the rounds
        # above, which take the leader lock), then at ten past every hour in the centre's
        # zone: the round after midnight rolls the day, the others find nothing to do
        self.scheduler.add_job(
            self.stats_round, "date", run_date=dt.datetime.now(dt.UTC) + STATS_START_DELAY,
            id="stats-rollup-start", max_instances=1, misfire_grace_time=None,
        )  # fmt: skip
        self.scheduler.add_job(
            self.stats_round, "cron", minute=10, timezone=self.app.config["CENTRE_TIMEZONE"],
            id="stats-rollup", max_instances=1, coalesce=True, misfire_grace_time=None,
        )  # fmt: skip
        minutes = self.app.config.get("CHECKPOINT_MINUTES") or 0
        if self.app.config.get("CHECKPOINT_LOG") and minutes > 0:
            self.scheduler.add_job(
                self.checkpoint_round, "interval", minutes=minutes, id="audit-checkpoint",
                next_run_time=dt.datetime.now(dt.UTC) + STATS_START_DELAY,
                max_instances=1, coalesce=True, misfire_grace_time=None,
            )  # fmt: skip
        if self.app.config["DATABASE_URL"].startswith("postgresql"):
            threading.Thread(target=self._listen, name="ow-timer-listen", daemon=True).start()

    def shutdown(self) -> None:
        """Stop firing and give up leadership."""
        unsubscribe(self.app, self.schedule)
        unsubscribe(self.app, self.presence_changed)
        self._stop.set()
        self.scheduler.shutdown(wait=True)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self.lanes.shutdown()
        self.leader.release()

    def schedule(self, when: dt.datetime) -> None:
        """Run a round at `when` (naive UTC) unless one is already due earlier."""
        with self._lock:
            if self._next is not None and self._next <= when:
                return
            self._next = when
        # Several instances may be due at once; round() itself lets only one work at a time.
        self.scheduler.add_job(
            self.round, "date", run_date=when.replace(tzinfo=dt.UTC), id="timers",
            replace_existing=True, max_instances=4, misfire_grace_time=None,
        )  # fmt: skip

    def round(self) -> None:
        """Fire every due timer, then sleep until the next due time."""
        from .cases.timers import next_due

        with self._lock:
            self._next = None
        if not self._running.acquire(blocking=False):
            self._again = True  # the round under way goes once more before it sleeps
            return
        try:
            with self.app.app_context():
                if not self.leader.acquire():
                    return
                self._fire_until_none_due()
                upcoming = next_due(session())
        finally:
            self._running.release()
        if upcoming is not None and not self._stop.is_set():
            self.schedule(max(upcoming, utcnow()))

    def schedule_presence(self, when: dt.datetime) -> None:
        """Reconcile task holders at `when` (an absence starts or ends, a check-in deadline)."""
        self.scheduler.add_job(
            self.presence_round, "date", run_date=when.replace(tzinfo=dt.UTC),
            id=f"presence-{when.isoformat()}", replace_existing=True, misfire_grace_time=None,
        )  # fmt: skip

    def presence_changed(self, *moments: dt.datetime) -> None:
        """Reconcile at each absence boundary registered just now that is still to come."""
        for moment in moments:
            if moment > utcnow():
                self.schedule_presence(moment)

    def presence_round(self) -> None:
        """Move tasks away from people who just left and back to those who returned."""
        from .org.absences import next_boundary, reconcile

        with self.app.app_context():
            if not self.leader.acquire():
                return
            try:
                reconcile()
            except Exception:
                log.exception("reconciling task holders failed; the next boundary retries")
            upcoming = next_boundary(session(), utcnow())
        if upcoming is not None and not self._stop.is_set():
            self.schedule_presence(upcoming)

    def schedule_warnings(self, when: dt.datetime) -> None:
        """Scan for yellow and red cards at `when` (the next warning or due time)."""
        self.scheduler.add_job(
            self.warning_round, "date", run_date=when.replace(tzinfo=dt.UTC), id="warnings",
            replace_existing=True, misfire_grace_time=None,
        )  # fmt: skip

    def warning_round(self) -> None:
        """Issue the cards that are due, close finished ones, sleep until the next threshold.

        Running it twice, or in two processes at once, issues each card once: the cards
        table holds one row per subject and level.
        """
        from .applicants import applications, evaluations, tracking
        from .auth import sessions as web_sessions
        from .complaints import deadlines as complaints
        from .licences import reminders as licence_reminders
        from .supervision.services import next_threshold, scan

        with self.app.app_context():
            if not self.leader.acquire():
                return
            try:
                self.warned += scan()
            except Exception:
                log.exception("issuing warnings failed; the next round retries")
                session().rollback()  # a dead connection must not fail the scans after it
            try:  # complaints not replied in time: their cards, once each, the same way
                self.warned += complaints.scan()
            except Exception:
                log.exception("issuing complaint warnings failed; the next round retries")
                session().rollback()  # a dead connection must not fail the scans after it
            try:  # follow-ups of bad ratings near or past their five working days
                self.warned += evaluations.scan_follow_ups()
                tracking.forget_before(utcnow() - dt.timedelta(days=1))
                keep = dt.timedelta(days=self.app.config.get("WEB_SESSION_RETENTION_DAYS", 90))
                web_sessions.forget_before(utcnow() - keep)
            except Exception:
                log.exception("follow-up warnings failed; the next round retries")
                session().rollback()  # a dead connection must not fail the scans after it
            try:  # online applications not told in five working days: deemed accepted, once
                applications.scan_deemed()
            except Exception:
                log.exception("deemed acceptance failed; the next round retries")
                session().rollback()
            try:  # licences: renewal reminders once on their working day; expiry
                licence_reminders.scan()
            except Exception:
                log.exception("licence reminders failed; the next round retries")
                session().rollback()
            try:
                moments = (next_threshold(session(), utcnow()),
                           complaints.next_threshold(session(), utcnow()),
                           evaluations.next_follow_up_threshold(utcnow()),
                           applications.next_deemed(utcnow()),
                           licence_reminders.next_threshold(utcnow()))  # fmt: skip
                upcoming = min((m for m in moments if m is not None), default=None)
            except Exception:  # the database is away: the fallback round looks again
                log.exception("reading the next warning time failed; the fallback round retries")
                session().rollback()
                upcoming = None
        if upcoming is not None and not self._stop.is_set():
            # a red card is due strictly after the due time
            self.schedule_warnings(upcoming + dt.timedelta(seconds=1))

    def stats_round(self) -> None:
        """Roll the unsettled days of the statistics cache (app.stats.rollup); rolling a day
        again writes the same rows, so a repeated or concurrent round does no harm."""
        from .stats.rollup import catch_up

        with self.app.app_context():
            if not self.leader.acquire():
                return
            try:
                catch_up(session())
            except Exception:
                log.exception("rolling up the statistics failed; the next round retries")

    def checkpoint_round(self) -> bool:
        """Append a signed checkpoint of the chains changed since the last one (the leader
        only); a broken log or a held-back case is logged as an error for the auditors."""
        from .audit.anchor import LogBroken, write_checkpoint

        with self.app.app_context():
            if not self.leader.acquire():
                return False
            try:
                written = write_checkpoint(self.app, session())
            except LogBroken:
                log.exception("the checkpoint log is broken: no checkpoint written")
                return False
            except Exception:
                log.exception("writing a checkpoint failed; the next round retries")
                session().rollback()
                return False
            finally:
                session().rollback()  # the round only read
            if written is not None and (written.held or written.missing):
                log.error("checkpoint %s: held back %s, missing %s", written.line,
                          written.held, written.missing)  # fmt: skip
            return written is not None

    # the burst path: a batch read, lanes by case, each timer its own transaction
    def _fire_until_none_due(self) -> None:
        """Fire every due timer, a batch at a time, on `workers` lanes.

        One statement reads a batch of due timers (their ids and cases, from the partial index
        of waiting timers); the batch is cut into lanes by case, so that no two lanes ever
        step the same case, and the lanes fire in parallel (PostgreSQL: while one waits for
        the database, another runs its engine step). Each timer still fires in its own
        transaction with one commit (`fire_timer`), which claims it with FOR UPDATE SKIP
        LOCKED on PostgreSQL and fires it only if it is still waiting: a timer taken by
        another scheduler meanwhile is skipped, never fired twice.
        """
        from .cases.timers import due_timers

        tried: set = set()  # timers this round could neither fire nor fail: never loop on them
        while not self._stop.is_set():
            self._again = False
            due = [(t, c) for t, c in due_timers(session(), utcnow(), self.batch) if t not in tried]
            session().close()  # the lanes work on their own sessions
            if due:
                tried |= self._fire_lanes(due)
            if not due and not self._again:
                return

    def _fire_lanes(self, due: list[tuple]) -> set:
        """Fire a batch, each case's timers in order on one lane; return the timers tried in
        vain. A large batch goes to the lane processes once they are up; otherwise the
        calling thread works one lane and the thread pool the others."""
        by_case: dict[int, list] = {}
        for timer_id, case_id in due:
            by_case.setdefault(case_id, []).append(timer_id)
        groups = list(by_case.values())
        if len(groups) >= PROCESS_MIN_GROUPS:
            # the first burst starts the lane processes (in the background: it goes to the
            # threads); later ones go to the processes once they are up
            self.lanes.warm()
            if self.lanes.ready():
                fired, tried, undone = self.lanes.fire(groups, self._stop.is_set)
                self._add_fired(fired)
                return tried | (self._fire_threads(undone) if undone else set())
        return self._fire_threads(groups)

    def _fire_threads(self, groups: list[list]) -> set:
        lanes = max(1, min(self.workers, len(groups)))
        queue, pulling = iter(groups), threading.Lock()  # lanes pull the next case's timers
        if lanes == 1:
            return self._fire_lane(queue, pulling)
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.workers - 1, thread_name_prefix="ow-timers")
        others = [self._pool.submit(self._fire_lane_in_context, queue, pulling)
                  for _ in range(lanes - 1)]  # fmt: skip
        tried = self._fire_lane(queue, pulling)
        for other in others:
            tried |= other.result()
        return tried

    def _fire_lane_in_context(self, queue, pulling: threading.Lock) -> set:
        with self.app.app_context():
            return self._fire_lane(queue, pulling)

    def _fire_lane(self, queue, pulling: threading.Lock) -> set:
        def pull():
            while True:
                with pulling:
                    timer_ids = next(queue, None)
                if timer_ids is None:
                    return
                yield timer_ids

        fired, tried = fire_groups(pull(), self._stop.is_set)
        self._add_fired(fired)
        return tried  # held, postponed or taken: not again this round

    def _add_fired(self, count: int) -> None:
        with self._count:
            self.fired += count

    def _listen(self) -> None:
        import psycopg

        url = sa.engine.make_url(self.app.config["DATABASE_URL"]).set(drivername="postgresql")
        while not self._stop.is_set():
            try:
                with psycopg.connect(url.render_as_string(hide_password=False),
                                     autocommit=True) as conn:  # fmt: skip
                    conn.execute(f"LISTEN {TIMERS_CHANNEL}")
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self.schedule(dt.datetime.fromisoformat(note.payload))
            except psycopg.Error:
                if not self._stop.is_set():
                    log.warning("timer listener lost its connection; reconnecting")
                self._stop.wait(1.0)


def start_scheduler(app: Flask) -> TimerScheduler:
    """Start the timer scheduler for an app (once)."""
    if "ow_scheduler" not in app.extensions:
        scheduler = TimerScheduler(app)
        app.extensions["ow_scheduler"] = scheduler
        scheduler.start()
    return app.extensions["ow_scheduler"]
