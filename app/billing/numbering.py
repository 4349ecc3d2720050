"""Gapless document numbers from one continuous counter each (DESIGN §5.2).

`take_numbers` increments the counter row with UPDATE ... RETURNING, which row-locks it
until the caller's transaction ends: numbers are consecutive, distinct under concurrency,
and vanish with a rollback (so no gaps). Callers take numbers as the last step before
commit, so parallel transactions wait on each other only for that short tail.
"""

from sqlalchemy import event, inspect, update

from app import clock
from app.extensions import db
from app.models import (
    AccountNumberCounter,
    CreditNote,
    CreditNoteNumberCounter,
    CustomerInvoice,
    InvoiceNumberCounter,
)

COUNTER_ROW_ID = 1


def take_numbers(counter_model, count: int, *, year: int) -> range:
    """Reserve `count` consecutive numbers from `counter_model` in this transaction."""
    if count < 1:
        raise ValueError("count must be at least 1")
    last = db.session.execute(
        update(counter_model)
        .where(counter_model.id == COUNTER_ROW_ID)
        .values(
            last_number=counter_model.last_number + count,
            last_year=year,
            updated_at=clock.now(),
        )
        .returning(counter_model.last_number)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return range(last - count + 1, last + 1)


def format_number(prefix: str, year: int, number: int) -> str:
    """`CT-2026-00417`: five digits, widening beyond 99999 rather than wrapping."""
    return f"{prefix}-{year}-{number:05d}"


def next_account_number(prefix: str = "CT") -> str:
    """The next account number, with the business-clock year of creation."""
    year = clock.today().year
    (number,) = take_numbers(AccountNumberCounter, 1, year=year)
    return format_number(prefix, year, number)


def number_invoices(invoices) -> None:
    """Give unnumbered invoices consecutive `INV-` numbers in id order, then flush."""
    _number(invoices, InvoiceNumberCounter, "INV", "invoice_number")


def number_credit_notes(credit_notes) -> None:
    """Give unnumbered credit notes consecutive `CN-` numbers in id order, then flush."""
    _number(credit_notes, CreditNoteNumberCounter, "CN", "credit_note_number")


def _number(documents, counter_model, prefix: str, attribute: str) -> None:
    pending = sorted(
        (doc for doc in documents if getattr(doc, attribute) is None), key=lambda d: d.id or 0
    )
    if not pending:
        return
    year = clock.today().year
    numbers = take_numbers(counter_model, len(pending), year=year)
    for document, number in zip(pending, numbers, strict=True):
        setattr(document, attribute, format_number(prefix, year, number))
    db.session.flush()


# --- Numbering as the last step before commit ----------------------------------------------

_QUEUE_KEY = "documents_to_number"


def queue_for_numbering(document) -> None:
    """Mark a new invoice or credit note to be numbered when its transaction commits."""
    db.session.info.setdefault(_QUEUE_KEY, []).append(document)


def number_queued_documents(session) -> None:
    """`before_commit` hook: number the queued documents that are still to be committed.

    Documents created in a savepoint that was rolled back are no longer persistent and are
    dropped, so only rows that commit take numbers (gapless).
    """
    if session.in_nested_transaction():
        return  # SQLAlchemy fires this for savepoint releases too: number at the real commit
    queued = session.info.pop(_QUEUE_KEY, [])
    if not queued:
        return
    live = [doc for doc in queued if inspect(doc).persistent and doc in session]
    invoices = [doc for doc in live if isinstance(doc, CustomerInvoice)]
    credit_notes = [doc for doc in live if isinstance(doc, CreditNote)]
    if invoices:
        number_invoices(invoices)
    if credit_notes:
        number_credit_notes(credit_notes)


def forget_queued_documents(session, transaction) -> None:
    """`after_transaction_end` hook: once the whole transaction is over, nothing stays queued
    (a rollback numbers nothing). The end of a savepoint keeps the queue: `after_rollback`
    would also fire for a rolled-back savepoint and drop the documents of the services that
    succeeded around it, leaving them unnumbered; the savepoint's own documents are dropped
    at commit because they are no longer persistent."""
    if transaction.parent is None:
        session.info.pop(_QUEUE_KEY, None)


def register_numbering_hooks() -> None:
    """Install the hooks on the app's session (once per process)."""
    if not event.contains(db.session, "before_commit", number_queued_documents):
        event.listen(db.session, "before_commit", number_queued_documents)
        event.listen(db.session, "after_transaction_end", forget_queued_documents)
