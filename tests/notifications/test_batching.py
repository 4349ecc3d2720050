"""The sender sends in batches: SMS as many per gateway request as the gateway takes,
e-mail over one SMTP connection per run, each message's outcome still its own
(integrations.md §3.1, §3.3)."""

import json
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app import clock
from app.extensions import db
from app.integrations.email import RecipientRefused, build_message, smtp_session
from app.integrations.http import ProviderError, ProviderUnavailable
from app.integrations.sms import (
    BulkSmsClient,
    ClickatellClient,
    MessageRejected,
    SmsMessage,
    SmsReceipt,
)
from app.models import Notification
from app.notifications import sender
from app.notifications.sender import send_due_notifications
from tests.notifications.conftest import outbox

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
BAD_NUMBER = "+27 82 NOT A NUMBER"


def _number(n: int) -> str:
    return f"+2782{5_000_000 + n:07d}"


def _queue_sms(count: int, *, bad: tuple[int, ...] = ()) -> list[int]:
    """`count` queued SMS written directly (no sender runs after the commit); the rows at
    the positions in `bad` go to a number no gateway takes."""
    rows = [
        Notification(
            channel="sms",
            template="service_reactivated",
            recipient=BAD_NUMBER if n in bad else _number(n),
            body=f"CircleTel: message {n}",
            status="queued",
            attempts=0,
            created_at=START,
        )
        for n in range(count)
    ]
    db.session.add_all(rows)
    db.session.commit()
    return [row.id for row in rows]


def _queue_emails(count: int) -> list[int]:
    rows = [
        Notification(
            channel="email",
            template="service_reactivated",
            recipient=f"customer{n}@example.co.za",
            subject=f"Message {n}",
            body=f"Dear customer {n}",
            status="queued",
            attempts=0,
            created_at=START,
        )
        for n in range(count)
    ]
    db.session.add_all(rows)
    db.session.commit()
    return [row.id for row in rows]


def _statuses(channel: str | None = None) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in outbox(channel=channel):
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts


# --- Clickatell ---------------------------------------------------------------------------


def test_450_sms_go_in_three_clickatell_requests(gateways):
    _queue_sms(450)
    with clock.frozen_at(START):
        result = send_due_notifications(limit=500)
    assert (result.sent, result.retrying, result.failed, result.skipped) == (450, 0, 0, 0)
    assert [(r["messages"], r["status"]) for r in gateways.clickatell.requests] == [
        (200, 202),
        (200, 202),
        (50, 202),
    ]
    sent = {m["clientMessageId"]: m["apiMessageId"] for m in gateways.clickatell.messages}
    rows = outbox(channel="sms")
    assert len(sent) == 450
    assert all(row.status == "sent" and row.attempts == 1 for row in rows)
    assert {f"n-{row.id}": row.provider_message_id for row in rows} == sent


def test_a_mixed_207_answer_sends_the_accepted_and_fails_the_refused(gateways):
    _queue_sms(5, bad=(2,))
    with clock.frozen_at(START):
        result = send_due_notifications()
    assert (result.sent, result.failed, result.retrying) == (4, 1, 0)
    assert [(r["messages"], r["status"]) for r in gateways.clickatell.requests] == [(5, 207)]
    rows = outbox(channel="sms")
    assert [row.status for row in rows] == ["sent", "sent", "failed", "sent", "sent"]
    assert "Invalid destination address" in rows[2].last_error
    assert rows[2].provider_message_id is None
    (failure,) = result.failures
    assert failure["notification"] == rows[2].id and failure["final"] is True
    assert len(gateways.clickatell.messages) == 4


def test_a_batch_refused_as_a_whole_is_retried_and_the_other_batches_go(gateways):
    _queue_sms(450)
    gateways.clickatell.fail_next(3, status=503)  # the first request, all its tries
    with clock.frozen_at(START):
        result = send_due_notifications(limit=500)
    assert (result.sent, result.retrying) == (250, 200)
    assert [r["status"] for r in gateways.clickatell.requests] == [503, 503, 503, 202, 202]
    rows = outbox(channel="sms")
    assert {(row.status, row.next_attempt_at) for row in rows[:200]} == {
        ("queued", START + timedelta(minutes=1))
    }
    assert {row.status for row in rows[200:]} == {"sent"}

    with clock.frozen_at(START + timedelta(minutes=1)):
        assert send_due_notifications(limit=500).sent == 200
    assert _statuses("sms") == {"sent": 450}
    assert len({m["clientMessageId"] for m in gateways.clickatell.messages}) == 450


def test_300_messages_take_a_handful_of_requests_not_300(gateways):
    _queue_sms(150)
    _queue_emails(150)
    with clock.frozen_at(START):
        result = send_due_notifications(limit=300)
    assert result.sent == 300
    assert len(gateways.clickatell.requests) == 1
    assert gateways.smtp.connections == 2  # a fresh connection after 100 messages
    assert len(gateways.smtp.messages) == 150


def test_the_clickatell_client_reads_each_message_of_a_mixed_answer(app):
    def gateway(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            207,
            json={
                "messages": [
                    {"apiMessageId": "a1", "accepted": True, "to": "27820000001", "error": None},
                    {
                        "apiMessageId": None,
                        "accepted": False,
                        "to": "27820000002",
                        "error": {"code": 105, "description": "Invalid destination"},
                    },
                    {"apiMessageId": None, "accepted": False, "to": "27820000003"},
                    {"accepted": True, "to": "27820000004"},
                ],
                "error": None,
            },
        )

    with ClickatellClient("http://gateway.test", "key") as client:
        client.http = httpx.Client(base_url="http://gateway.test", transport=_mock(gateway))
        results = client.send_many([SmsMessage(f"+2782000000{n}", "Hi") for n in range(1, 5)])
    receipt, rejected, unexplained, without_id = results
    assert receipt == SmsReceipt("clickatell", "a1")
    assert isinstance(rejected, MessageRejected) and rejected.code == 105
    assert type(unexplained) is ProviderError  # neither accepted nor refused: try again
    assert type(without_id) is ProviderError and "without a message id" in str(without_id)


def test_a_later_request_refused_as_a_whole_does_not_hide_the_sent_ones(app):
    """Nothing sent yet: the refusal is raised. Some sent: each unsent message carries it."""
    statuses = [202, 402, 402]

    def gateway(request: httpx.Request) -> httpx.Response:
        if statuses.pop(0) == 402:
            return httpx.Response(402, json={"messages": [], "error": {"description": "credit"}})
        entries = json.loads(request.content)["messages"]
        answers = [{"apiMessageId": f"m{n}", "accepted": True} for n in range(len(entries))]
        return httpx.Response(202, json={"messages": answers, "error": None})

    messages = [SmsMessage(_number(n), "Hi") for n in range(250)]
    with ClickatellClient("http://gateway.test", "key") as client:
        client.http = httpx.Client(base_url="http://gateway.test", transport=_mock(gateway))
        results = client.send_many(messages)
        assert [type(r) for r in results] == [SmsReceipt] * 200 + [ProviderError] * 50
        assert "out of credit" in str(results[-1])
        with pytest.raises(ProviderError, match="out of credit"):
            client.send_many(messages)


def _mock(handler) -> httpx.MockTransport:
    return httpx.MockTransport(handler)


# --- BulkSMS ------------------------------------------------------------------------------


@pytest.fixture
def bulksms(gateways, monkeypatch, app):
    monkeypatch.setitem(app.config, "SMS_PROVIDER", "bulksms")
    return gateways.bulksms


def test_bulksms_takes_the_batch_in_one_request_and_matches_each_message(bulksms):
    _queue_sms(450)
    with clock.frozen_at(START):
        assert send_due_notifications(limit=500).sent == 450
    assert [(r["messages"], r["status"]) for r in bulksms.requests] == [(450, 201)]
    sent = {m["userSuppliedId"]: m["id"] for m in bulksms.messages}
    assert {f"n-{row.id}": row.provider_message_id for row in outbox(channel="sms")} == sent


def test_bulksms_refusing_a_batch_for_one_bad_number_sends_the_others(bulksms):
    """BulkSMS refuses the whole request (400): it is halved until the bad one is alone."""
    _queue_sms(8, bad=(5,))
    with clock.frozen_at(START):
        result = send_due_notifications()
    assert (result.sent, result.failed) == (7, 1)
    assert [(r["messages"], r["status"]) for r in bulksms.requests] == [
        (8, 400),
        (4, 201),
        (4, 400),
        (2, 400),
        (1, 201),
        (1, 400),
        (2, 201),
    ]
    rows = outbox(channel="sms")
    assert [row.status for row in rows] == ["sent"] * 5 + ["failed"] + ["sent"] * 2
    assert "Invalid destination address" in rows[5].last_error
    assert sorted(m["userSuppliedId"] for m in bulksms.messages) == sorted(
        f"n-{row.id}" for row in rows if row.status == "sent"
    )
    assert bulksms.deliver_pending() == 7  # a delivery report for each message sent
    assert _statuses("sms") == {"delivered": 7, "failed": 1}


def test_the_bulksms_client_matches_answers_by_user_supplied_id(app):
    def gateway(request: httpx.Request) -> httpx.Response:
        entries = json.loads(request.content)
        answers = [{"id": f"id-{e['userSuppliedId']}", **e} for e in reversed(entries)]
        return httpx.Response(201, json=answers)

    with BulkSmsClient("http://gateway.test/v1", "id", "secret") as client:
        client.http = httpx.Client(base_url="http://gateway.test/v1", transport=_mock(gateway))
        results = client.send_many(
            [SmsMessage(_number(n), "Hi", client_message_id=f"n-{n}") for n in range(3)]
        )
    assert [r.message_id for r in results] == ["id-n-0", "id-n-1", "id-n-2"]


# --- e-mail -------------------------------------------------------------------------------


def test_30_emails_go_over_one_smtp_connection(gateways, monkeypatch):
    monkeypatch.setattr(sender, "EMAIL_CHUNK", 7)  # several chunks, still one connection
    ids = _queue_emails(30)
    with clock.frozen_at(START):
        assert send_due_notifications().sent == 30
    assert gateways.smtp.connections == 1
    assert [m["Subject"] for m in gateways.smtp.messages] == [f"Message {n}" for n in range(30)]
    rows = outbox(channel="email")
    assert [row.id for row in rows] == ids
    assert [row.provider_message_id for row in rows] == [
        m["Message-ID"] for m in gateways.smtp.messages
    ]


def test_a_refused_or_busy_recipient_fails_only_its_own_email(gateways):
    _queue_emails(5)
    gateways.smtp.refuse_recipient("customer1@example.co.za")
    with clock.frozen_at(START):
        result = send_due_notifications()
    assert (result.sent, result.failed) == (4, 1)
    assert gateways.smtp.connections == 1
    rows = outbox(channel="email")
    assert [row.status for row in rows] == ["sent", "failed", "sent", "sent", "sent"]
    assert rows[1].last_error.startswith("smtp: 550")

    gateways.smtp.reset()
    _queue_emails(3)
    gateways.smtp.fail_next(1)  # 451 for the first message: it alone is tried again
    with clock.frozen_at(START):
        result = send_due_notifications()
    assert (result.sent, result.retrying) == (2, 1)
    assert gateways.smtp.connections == 1
    assert [row.status for row in outbox(channel="email")[5:]] == ["queued", "sent", "sent"]


def test_an_unreachable_mail_server_is_tried_once_per_run(gateways, monkeypatch, app):
    monkeypatch.setitem(app.config, "SMTP_PORT", 9)  # discard: nothing listens
    _queue_emails(4)
    with clock.frozen_at(START):
        result = send_due_notifications()
    assert (result.sent, result.retrying) == (0, 4)
    rows = outbox(channel="email")
    assert {(row.status, row.attempts) for row in rows} == {("queued", 1)}
    assert "ConnectionRefusedError" in rows[0].last_error
    assert all("not tried after" in row.last_error for row in rows[1:])


def test_an_smtp_session_sends_many_and_maps_errors_per_message(gateways, app):
    gateways.smtp.refuse_recipient("nobody@example.co.za")
    with smtp_session() as session:
        first = session.send(build_message(to="a@example.co.za", subject="1", body="one"))
        with pytest.raises(RecipientRefused):
            session.send(build_message(to="nobody@example.co.za", subject="2", body="two"))
        gateways.smtp.fail_next(1)
        with pytest.raises(ProviderUnavailable, match="451"):
            session.send(build_message(to="b@example.co.za", subject="3", body="three"))
        last = session.send(build_message(to="c@example.co.za", subject="4", body="four"))
    assert [m["Message-ID"] for m in gateways.smtp.messages] == [first, last]
    assert gateways.smtp.connections == 1


# --- two senders, and SQLite --------------------------------------------------------------


def test_two_senders_share_a_large_outbox_without_sending_twice(gateways, app):
    _queue_sms(600)
    start = threading.Barrier(2)
    results = []

    def run():
        with app.app_context():
            start.wait()
            with clock.frozen_in_this_thread(START):
                results.append(send_due_notifications(limit=600))
            db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sum(result.sent for result in results) == 600
    sent_ids = [m["clientMessageId"] for m in gateways.clickatell.messages]
    assert len(sent_ids) == len(set(sent_ids)) == 600
    assert {(row.status, row.attempts) for row in outbox()} == {("sent", 1)}


@pytest.mark.sqlite
def test_batches_are_claimed_and_recorded_on_sqlite(sqlite_app, running_sandboxes):
    running_sandboxes.reset()
    running_sandboxes.clickatell.callback_delay = None
    saved = {key: sqlite_app.config.get(key) for key in running_sandboxes.config}
    sqlite_app.config.update(running_sandboxes.config)
    try:
        _queue_sms(250, bad=(3,))
        _queue_emails(20)
        with clock.frozen_at(START):
            result = send_due_notifications(limit=300)
        assert (result.sent, result.failed, result.skipped) == (269, 1, 0)
        assert [r["messages"] for r in running_sandboxes.clickatell.requests] == [200, 50]
        assert running_sandboxes.smtp.connections == 1
        assert _statuses() == {"sent": 269, "failed": 1}
        with clock.frozen_at(START + timedelta(hours=1)):  # nothing is due any more
            assert send_due_notifications().sent == 0
    finally:
        sqlite_app.config.update(saved)
        running_sandboxes.reset()
