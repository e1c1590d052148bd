"""The claim, lease and sweep rules on both database engines: one run at a time, never stuck."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from audiotricks.extensions import db
from audiotricks.jobs import service
from audiotricks.jobs.queue import current_queue
from audiotricks.models import Job, utcnow
from tests.helpers import execute, user_id
from tests.jobs.helpers import jobs_rows


@pytest.fixture
def config_overrides(tmp_path):
    return {"jobs_lease_seconds": 60, "jobs_max_attempts": 2, "jobs_requeue_seconds": 60}


@pytest.fixture
def job_id(app, auth):
    owner = user_id(auth.signup())
    with app.app_context():
        job = Job(user_id=owner, kind="transcription", status="queued", stage="queued",
                  progress=0, options={}, attempts=0, enqueued_at=utcnow(),
                  created_at=utcnow(), updated_at=utcnow())
        db.session.add(job)
        db.session.commit()
        return job.id


def claim(app, job_id, token):
    with app.app_context():
        try:
            return service.claim(job_id, token) is not None
        finally:
            db.session.remove()


def test_only_one_of_many_concurrent_claims_wins(app, job_id):
    results = []
    barrier = threading.Barrier(6)

    def contender(number):
        barrier.wait()
        results.append(claim(app, job_id, f"worker-{number}"))

    threads = [threading.Thread(target=contender, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * 5 + [True]
    [row] = jobs_rows(app)
    assert row.status == "running" and row.attempts == 1 and row.worker.startswith("worker-")


def test_a_held_lease_blocks_claims_until_it_expires(app, job_id):
    assert claim(app, job_id, "first")
    assert not claim(app, job_id, "second")
    execute(app, update(Job).where(Job.id == job_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    assert claim(app, job_id, "second")
    # The first run's writes no longer count.
    with app.app_context():
        assert not service.renew_lease(job_id, "first")
        assert not service.report_progress(job_id, "first", "transcribing", 50)
        assert not service.succeed(job_id, "first", None)
        db.session.commit()
        assert service.still_held(job_id, "second")
    [row] = jobs_rows(app)
    assert row.worker == "second" and row.attempts == 2 and row.status == "running"


def test_no_claim_after_the_last_attempt_or_of_a_finished_job(app, job_id):
    assert claim(app, job_id, "a")
    execute(app, update(Job).where(Job.id == job_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    assert claim(app, job_id, "b")
    execute(app, update(Job).where(Job.id == job_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    assert not claim(app, job_id, "c")  # two attempts used
    execute(app, update(Job).where(Job.id == job_id).values(status="canceled", attempts=0))
    assert not claim(app, job_id, "d")


def test_a_canceled_job_is_never_marked_succeeded(app, job_id, auth):
    assert claim(app, job_id, "run")
    execute(app, update(Job).where(Job.id == job_id).values(status="canceled"))
    with app.app_context():
        assert not service.succeed(job_id, "run", None)
        db.session.commit()
        assert not service.fail(job_id, "run", "internal")
    assert jobs_rows(app)[0].status == "canceled"


def test_sweep_sends_an_expired_job_again_then_fails_it_after_its_attempts(app, job_id):
    assert claim(app, job_id, "dead-worker")
    execute(app, update(Job).where(Job.id == job_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    with app.app_context():
        queue = current_queue()
        before = queue.pending()
        result = service.sweep(queue)
        assert (result.requeued, result.failed) == (1, 0)
        assert queue.pending() == before + 1
    [row] = jobs_rows(app)
    assert (row.status, row.stage, row.worker, row.lease_expires_at) == ("queued", "queued", None, None)

    assert claim(app, job_id, "second-dead-worker")
    execute(app, update(Job).where(Job.id == job_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    with app.app_context():
        result = service.sweep(current_queue())
        assert (result.requeued, result.failed) == (0, 1)
    [row] = jobs_rows(app)
    assert (row.status, row.error_code) == ("failed", "internal")
    assert row.finished_at is not None


def test_sweep_leaves_live_leases_and_present_messages_alone(app, job_id):
    with app.app_context():
        current_queue().send(job_id)  # its message is on the queue
    execute(app, update(Job).where(Job.id == job_id)
            .values(enqueued_at=utcnow() - timedelta(hours=1)))
    with app.app_context():
        result = service.sweep(current_queue())
        assert (result.requeued, result.failed, result.resent) == (0, 0, 0)
    assert claim(app, job_id, "alive")
    with app.app_context():
        assert service.sweep(current_queue()).requeued == 0
    assert jobs_rows(app)[0].worker == "alive"


def test_sweep_resends_a_queued_job_whose_message_is_gone_once(app, job_id):
    execute(app, update(Job).where(Job.id == job_id)
            .values(enqueued_at=utcnow() - timedelta(hours=1)))
    with app.app_context():
        queue = current_queue()
        assert queue.pending() == 0
        assert service.sweep(queue).resent == 1
        assert queue.pending() == 1
        assert service.sweep(queue).resent == 0  # sent just now, and its message is there


def test_release_gives_the_job_back_without_counting_the_attempt(app, job_id):
    token = str(uuid.uuid4())
    assert claim(app, job_id, token)
    with app.app_context():
        assert service.release(job_id, token, current_queue())
        assert current_queue().pending() == 1
    [row] = jobs_rows(app)
    assert (row.status, row.attempts, row.worker) == ("queued", 0, None)
