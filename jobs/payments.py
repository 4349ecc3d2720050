"""Payment jobs (DESIGN §5.9, §6): the 06:00 debit-order run, the 09:00 NetCash statement,
the hourly mandate poll, and asking NetCash for a new mandate.

Thin wrappers: they open the NetCash client, call the domain steps in `app.debit_orders`,
commit between steps (a batch is committed before it is uploaded, so it is resumed and
never sent twice) and record the run. NetCash being down or slow is counted in the run
(`partial` or `failed`), never a crash: the next run picks up where this one stopped.
"""

import logging
from datetime import date

from sqlalchemy.exc import IntegrityError

from app.debit_orders import (
    MANDATE_ACTOR,
    RUN_ACTOR,
    STATEMENT_ACTOR,
    advance_batch,
    apply_due_items,
    batch_name,
    build_batch,
    expire_unauthorised_batches,
    poll_mandates,
    reconcile_statement,
    refuse_future_date,
    statement_days,
    unfinished_batches,
)
from app.debit_orders import request_mandate as ask_netcash_for_mandate
from app.extensions import db
from app.integrations.http import ProviderError, ProviderNotConfigured
from app.integrations.netcash import NetcashClient
from app.models import CustomerPaymentMethod, DebitOrderBatch
from jobs.runlog import RunCounts, recorded_run

log = logging.getLogger(__name__)


def _problem(counts: RunCounts, step: str, error: Exception) -> None:
    counts.failed += 1
    counts.failures.append({"step": step, "error": f"{type(error).__name__}: {error}"[:500]})
    log.warning("debit orders: %s failed: %s", step, error)


def _send(batch: DebitOrderBatch, client: NetcashClient) -> None:
    """Every step the batch can take now, each committed before the next."""
    while advance_batch(batch, client, actor=RUN_ACTOR):
        db.session.commit()
    db.session.commit()


def debit_order_run(
    business_date: str, trigger_source: str = "scheduled", triggered_by: str | None = None
) -> int:
    """The daily debit-order run for a business date: apply the day's collections, finish
    batches still on their way, then build, upload, check and authorise the next batch.

    Returns how many items were collected or submitted.
    """
    today = date.fromisoformat(business_date)
    refuse_future_date(today)
    with recorded_run(
        "debit_order_run",
        business_date=today,
        trigger_source=trigger_source,
        triggered_by=triggered_by,
        parameters={"date": business_date},
    ) as counts:
        collected = apply_due_items(today, actor=RUN_ACTOR)
        db.session.commit()
        counts.processed += collected.applied
        counts.failed += len(collected.failures)
        counts.failures.extend({"collection": failure} for failure in collected.failures)
        counts.failures.extend({"warning": m} for m in expire_unauthorised_batches(today))
        db.session.commit()
        try:
            client = NetcashClient.from_config()
        except ProviderNotConfigured as error:
            counts.skipped += 1
            counts.failures.append({"warning": f"No batch submitted: {error}"})
        else:
            with client:
                _submit(today, client, counts)
    return counts.processed


def _submit(today: date, client: NetcashClient, counts: RunCounts) -> None:
    """Finish the batches still on their way, then build and send today's; a NetCash
    outage stops here (counted), and the next run resumes."""
    for batch in unfinished_batches():
        try:
            _send(batch, client)
        except ProviderError as error:
            db.session.rollback()
            _problem(counts, f"batch {batch_name(batch)}", error)
            return
    try:
        build = build_batch(today, actor=RUN_ACTOR, client=client)
        db.session.commit()
    except ProviderError as error:
        db.session.rollback()
        _problem(counts, "planning the batch", error)
        return
    except IntegrityError:
        # Another run took the same invoices at the same moment (one live item each).
        db.session.rollback()
        counts.skipped += 1
        counts.failures.append({"warning": "Another debit-order run is building a batch."})
        return
    counts.skipped += len(build.plan.messages) + len(build.invalid)
    counts.failures.extend({"warning": m} for m in build.plan.messages + build.invalid)
    batch = build.batch
    if batch is None:
        return
    name = batch_name(batch)
    try:
        _send(batch, client)
    except ProviderError as error:
        db.session.rollback()
        _problem(counts, f"sending batch {name}", error)
        return
    if batch.status == "failed":
        counts.failed += 1
        counts.failures.append({"batch": name, "error": batch.error_message})
        return
    counts.processed += batch.item_count
    if batch.status != "authorised":
        counts.failures.append(
            {
                "warning": f"Batch {name} is {batch.status}: "
                f"{batch.error_message or 'waiting for NetCash'}"
            }
        )


def netcash_statement_run(
    business_date: str, trigger_source: str = "scheduled", triggered_by: str | None = None
) -> int:
    """Read yesterday's NetCash statement (and any earlier day still waited for): confirm
    collections, reverse returns, take Pay Now payments whose notify never came."""
    today = date.fromisoformat(business_date)
    refuse_future_date(today)
    with recorded_run(
        "netcash_statement_run",
        business_date=today,
        trigger_source=trigger_source,
        triggered_by=triggered_by,
        parameters={"date": business_date},
    ) as counts:
        try:
            client = NetcashClient.from_config()
        except ProviderNotConfigured as error:
            counts.skipped += 1
            counts.failures.append({"warning": f"Statement not read: {error}"})
            return 0
        with client:
            for day in statement_days(today):
                try:
                    result = reconcile_statement(day, client, actor=STATEMENT_ACTOR)
                    db.session.commit()
                except ProviderError as error:
                    db.session.rollback()
                    _problem(counts, f"statement of {day}", error)
                    continue
                counts.processed += result.processed
                counts.skipped += result.unmatched + result.already_seen
                counts.failed += len(result.failures)
                counts.failures.extend({"statement": f} for f in result.failures)
    return counts.processed


def mandate_status_poll(trigger_source: str = "scheduled", triggered_by: str | None = None) -> int:
    """Hourly: ask again for mandates NetCash never created, and read the status of those
    waiting for a signature (the backstop for lost postbacks)."""
    with recorded_run(
        "mandate_status_poll", trigger_source=trigger_source, triggered_by=triggered_by
    ) as counts:
        try:
            client = NetcashClient.from_config()
        except ProviderNotConfigured as error:
            counts.skipped += 1
            counts.failures.append({"warning": f"Mandates not polled: {error}"})
            return 0
        with client:
            try:
                result = poll_mandates(client, actor=MANDATE_ACTOR)
                db.session.commit()
            except ProviderError as error:
                db.session.rollback()
                _problem(counts, "mandate poll", error)
                return 0
        counts.processed = result.requested + result.activated + result.failed
        counts.skipped = result.pending
        counts.failures.extend({"warning": problem} for problem in result.problems)
    return counts.processed


def request_mandate(method_id: int) -> str | None:
    """After a debit-order method is added: ask NetCash for its mandate and send the link.

    A NetCash outage is left to the hourly poll, which asks again."""
    method = db.session.get(CustomerPaymentMethod, method_id)
    if method is None or method.mandate_status != "pending_signature" or method.mandate_url:
        return None  # nothing to ask for (e.g. a demo mandate signed already)
    try:
        with NetcashClient.from_config() as client:
            start = ask_netcash_for_mandate(method, client, actor=MANDATE_ACTOR)
        db.session.commit()
    except ProviderError as error:
        db.session.rollback()
        log.warning("mandate of payment method %s not requested yet: %s", method_id, error)
        return None
    return start.mandate_url
