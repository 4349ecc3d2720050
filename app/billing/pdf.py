"""Tax-invoice and credit-note PDFs, and where they are kept (DESIGN §3, §5.1).

A document is rendered only from its own stored fields and the invoice's `issued_to`
snapshot, never from the live customer row, and the bytes are reproducible (ReportLab's
invariant mode), so rendering an invoice again gives the same file. PDFs are rendered in
workers and stored once under their number (`2026/INV-2026-00001.pdf`); readers get the
stored file and a missing one is rendered again.
"""

import base64
import logging
import os
import re
import tempfile
import threading
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from flask import current_app, render_template
from reportlab import rl_config
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy

from app import clock
from app.billing.calendar import Period
from app.billing.invoicing import describe_span
from app.billing.money import format_rand
from app.errors import Conflict
from app.extensions import db
from app.models import CreditNote, CustomerInvoice

log = logging.getLogger(__name__)

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
REGULAR_FONT = FONT_DIR / "DejaVuSans.ttf"
BOLD_FONT = FONT_DIR / "DejaVuSans-Bold.ttf"
LOGO_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif"}
DOCUMENT_NUMBER = re.compile(r"^[A-Z]+-(?P<year>\d{4})-\d{5,}$")

# ReportLab's invariant flag is a module global read when a document is started, so it is
# set and restored under one lock; renders are serialised by xhtml2pdf anyway.
_INVARIANT_LOCK = threading.Lock()


class PdfRenderError(RuntimeError):
    """xhtml2pdf reported errors while rendering a document."""


# --- Rendering ----------------------------------------------------------------------------


def render_invoice_pdf(invoice: CustomerInvoice) -> bytes:
    """The tax invoice as PDF bytes, from the invoice's fields and `issued_to` snapshot.

    Only what never changes after issue is printed: the amount due is the invoice total,
    and later payments and credits show on the account, not on the tax invoice.
    """
    number = _require_number(invoice.invoice_number, f"Invoice #{invoice.id}")
    issued_to = _require_snapshot(invoice, number)
    html = render_template(
        "pdf/invoice.html",
        title=f"Tax Invoice {number}",
        number=number,
        supplier=issued_to["supplier"],
        customer=issued_to["customer"],
        details=_invoice_details(invoice, issued_to["customer"]),
        lines=[_printed_line(line) for line in invoice.line_items],
        totals=_totals(invoice.subtotal, invoice.vat_rate, invoice.vat_amount)
        + [_grand_total("Total incl. VAT", invoice.total_amount)],
        amount_due=format_rand(invoice.total_amount),
        due_date=_print_date(invoice.due_date),
        payment_reference=issued_to["customer"]["account_number"],
        **_page_resources(),
    )
    return _html_to_pdf(html, title=f"Tax Invoice {number}", author=issued_to["supplier"]["name"])


def render_credit_note_pdf(credit_note: CreditNote) -> bytes:
    """The credit note as PDF bytes, from its fields and its invoice's `issued_to` snapshot."""
    number = _require_number(credit_note.credit_note_number, f"Credit note #{credit_note.id}")
    invoice = credit_note.invoice
    issued_to = _require_snapshot(invoice, number)
    details = [
        ("Credit note number", number),
        ("Credit note date", _print_date(credit_note.credit_note_date)),
        ("Account number", issued_to["customer"]["account_number"]),
        ("Credits tax invoice", invoice.invoice_number or ""),
        ("Tax invoice date", _print_date(invoice.invoice_date)),
    ]
    if credit_note.period_start and credit_note.period_end:
        span = Period(credit_note.period_start, credit_note.period_end)
        details.append(("Period credited", describe_span(span)))
    html = render_template(
        "pdf/credit_note.html",
        title=f"Credit Note {number}",
        number=number,
        supplier=issued_to["supplier"],
        customer=issued_to["customer"],
        details=details,
        reason=credit_note.reason,
        lines=[_printed_line(line) for line in credit_note.line_items],
        totals=_totals(credit_note.subtotal, credit_note.vat_rate, credit_note.vat_amount)
        + [_grand_total("Total credit incl. VAT", credit_note.total_amount)],
        invoice_number=invoice.invoice_number or "",
        **_page_resources(),
    )
    return _html_to_pdf(html, title=f"Credit Note {number}", author=issued_to["supplier"]["name"])


def _require_number(number: str | None, label: str) -> str:
    if not number:
        raise Conflict(f"{label} has no number yet; its PDF can be rendered once it is committed.")
    return number


def _require_snapshot(invoice: CustomerInvoice, number: str) -> dict:
    """The printed parties; a PDF is never filled in from the live customer row."""
    if not invoice.issued_to:
        raise Conflict(f"{number} cannot be rendered: its invoice has no issued-to snapshot.")
    return invoice.issued_to


def _print_date(day: date) -> str:
    return f"{day:%-d %b %Y}"


def _print_rate(rate: Decimal) -> str:
    """ "15" for 15.00, "15.5" for 15.50."""
    text = f"{rate:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _invoice_details(invoice: CustomerInvoice, customer: dict) -> list[tuple[str, str]]:
    details = [
        ("Invoice number", invoice.invoice_number),
        ("Invoice date", _print_date(invoice.invoice_date)),
        ("Due date", _print_date(invoice.due_date)),
        ("Account number", customer["account_number"]),
    ]
    if invoice.period_start and invoice.period_end:
        period = Period(invoice.period_start, invoice.period_end)
        details.append(("Period", describe_span(period)))
    return details


def _printed_line(line: dict) -> dict:
    """A stored line item as printed; money formatted here, never in the template."""
    unit_price = line.get("unit_price")
    return {
        "description": line["description"],
        "quantity": line.get("quantity", "1"),
        "unit_price": format_rand(Decimal(unit_price)) if unit_price is not None else "",
        "amount": format_rand(Decimal(line["amount"])),
    }


def _totals(subtotal: Decimal, rate: Decimal, vat_amount: Decimal) -> list[dict]:
    """The VAT split as printed rows; `grand` marks the VAT-inclusive total row."""
    return [
        {"label": "Total excl. VAT", "value": format_rand(subtotal), "grand": False},
        {"label": f"VAT {_print_rate(rate)}%", "value": format_rand(vat_amount), "grand": False},
    ]


def _grand_total(label: str, amount: Decimal) -> dict:
    return {"label": label, "value": format_rand(amount), "grand": True}


def _page_resources() -> dict:
    """The logo (a data: URI, or None for the text logo) and the font files to embed."""
    return {
        "logo_uri": _logo_data_uri(current_app.config.get("SUPPLIER_LOGO_PATH")),
        **_font_files(),
    }


def _logo_data_uri(logo_path: str | None) -> str | None:
    if not logo_path:
        return None
    # Branding must never stop invoicing: when the logo cannot be used, the text logo stands in.
    path = Path(logo_path)
    mime_type = LOGO_TYPES.get(path.suffix.lower())
    if mime_type is None:
        log.warning("SUPPLIER_LOGO_PATH %s is not PNG, JPEG or GIF; using the text logo", path)
        return None
    try:
        data = path.read_bytes()
    except OSError as error:
        log.warning("SUPPLIER_LOGO_PATH %s cannot be read (%s); using the text logo", path, error)
        return None
    return f"data:{mime_type};base64,{base64.b64encode(data).decode('ascii')}"


def _font_files() -> dict:
    """DejaVu Sans when installed (it has every glyph we print); Helvetica otherwise."""
    if REGULAR_FONT.is_file() and BOLD_FONT.is_file():
        return {"regular_font": REGULAR_FONT.as_posix(), "bold_font": BOLD_FONT.as_posix()}
    log.warning("DejaVu Sans not found in %s; falling back to Helvetica", FONT_DIR)
    return {"regular_font": None, "bold_font": None}


def _resource_policy() -> ResourceAccessPolicy:
    """No network, and local reads only from the font directory (the logo is inline)."""
    return ResourceAccessPolicy(allow_remote=False, base_dir=None, extra_roots=(FONT_DIR,))


@contextmanager
def _reproducible_output():
    """Fixed timestamps and document id, so the same document gives the same bytes."""
    with _INVARIANT_LOCK:
        previous = rl_config.invariant
        rl_config.invariant = 1
        try:
            yield
        finally:
            rl_config.invariant = previous


def _html_to_pdf(html: str, *, title: str, author: str) -> bytes:
    with _reproducible_output():
        result = pisa.CreatePDF(
            html,
            dest=None,
            encoding="utf-8",
            resource_policy=_resource_policy(),
            context_meta={"title": title, "author": author},
        )
    if result.err:
        raise PdfRenderError(f"xhtml2pdf reported {result.err} error(s) rendering {title}")
    if result.warn:
        # Warnings mean something was left out (a font, a style); the document still counts.
        log.warning("xhtml2pdf reported %d warning(s) rendering %s", result.warn, title)
    return result.dest.getvalue()


# --- Storage ------------------------------------------------------------------------------


class InvoiceStorage(Protocol):
    """Where document PDFs live; paths are the storage's own keys, not host paths."""

    def save(self, name: str, data: bytes) -> str: ...

    def load(self, path: str) -> bytes: ...

    def exists(self, path: str) -> bool: ...


class StoredDocumentConflict(Conflict):
    """A different document is already stored under this name."""


class DirectoryStorage:
    """PDFs in a directory tree (a shared volume when several hosts render and serve them).

    Keys are relative paths such as `2026/INV-2026-00001.pdf`, so the volume may be mounted
    anywhere. Writes go to a temporary file renamed into place, so readers never see half a
    file; a name that already holds different bytes is refused, never overwritten.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def save(self, name: str, data: bytes) -> str:
        target = self._locate(name)
        if target.exists():
            if target.read_bytes() == data:
                return name
            raise StoredDocumentConflict(
                f"{target} already holds a different document; move it aside if it is stale."
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            # Renders are reproducible, so a concurrent writer of the same name writes the
            # same bytes and this rename cannot replace a different document.
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return name

    def load(self, path: str) -> bytes:
        return self._locate(path).read_bytes()

    def exists(self, path: str) -> bool:
        return self._locate(path).is_file()

    def _locate(self, name: str) -> Path:
        """The file for a key; keys that would leave the root are refused."""
        relative = Path(name)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise ValueError(f"not a storage key: {name!r}")
        return self.root / relative


def storage() -> InvoiceStorage:
    """The configured document storage (INVOICE_STORAGE_DIR)."""
    return DirectoryStorage(current_app.config["INVOICE_STORAGE_DIR"])


def document_file_name(number: str) -> str:
    """`INV-2026-00001` → `2026/INV-2026-00001.pdf`: one folder per year of issue."""
    match = DOCUMENT_NUMBER.match(number)
    if match is None:
        raise ValueError(f"not a document number: {number!r}")
    return f"{match['year']}/{number}.pdf"


def store_invoice_pdf(invoice: CustomerInvoice) -> str:
    """Render and store the invoice's PDF; sets `pdf_path` and `pdf_generated_at`.

    Flushes; the caller commits. An invoice whose file is stored already is left as it is,
    so a retried job does no work twice.
    """
    number = _require_number(invoice.invoice_number, f"Invoice #{invoice.id}")
    if invoice.pdf_path and storage().exists(invoice.pdf_path):
        return invoice.pdf_path
    path = storage().save(document_file_name(number), render_invoice_pdf(invoice))
    invoice.pdf_path = path
    invoice.pdf_generated_at = clock.now()
    db.session.flush()
    return path


def invoice_pdf_bytes(invoice: CustomerInvoice) -> bytes:
    """The stored invoice PDF, rendered and stored again when missing (caller commits)."""
    return storage().load(store_invoice_pdf(invoice))


def store_credit_note_pdf(credit_note: CreditNote) -> str:
    """Render and store the credit note's PDF and set its `pdf_path` (caller commits)."""
    number = _require_number(credit_note.credit_note_number, f"Credit note #{credit_note.id}")
    if credit_note.pdf_path and storage().exists(credit_note.pdf_path):
        return credit_note.pdf_path
    path = storage().save(document_file_name(number), render_credit_note_pdf(credit_note))
    credit_note.pdf_path = path
    db.session.flush()
    return path


def credit_note_pdf_bytes(credit_note: CreditNote) -> bytes:
    """The stored credit note PDF, rendered and stored again when missing (caller commits)."""
    return storage().load(store_credit_note_pdf(credit_note))
