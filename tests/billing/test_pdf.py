"""Tax-invoice and credit-note PDFs: every required detail, from the snapshot, stored once."""

import io
import logging
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pypdf
import pypdfium2
import pytest
from PIL import Image
from sqlalchemy import select

from app import clock
from app.billing import pdf
from app.billing.calendar import Period
from app.billing.credit_notes import issue_credit_note
from app.billing.invoicing import issue_period_invoice, run_invoices
from app.billing.payments import record_payment
from app.errors import Conflict
from app.extensions import db
from app.models import CustomerInvoice

RUN_DATE = date(2026, 11, 24)
RESULTS_DIR = Path(__file__).resolve().parents[2] / "test-results"


@pytest.fixture(autouse=True)
def pinned_clock():
    with clock.frozen_at(RUN_DATE):
        yield


@pytest.fixture(autouse=True)
def document_dir(app, tmp_path, monkeypatch):
    """Each test stores its PDFs in its own directory."""
    directory = tmp_path / "documents"
    monkeypatch.setitem(app.config, "INVOICE_STORAGE_DIR", str(directory))
    return directory


@pytest.fixture
def residential_customer(make_customer):
    return make_customer(
        first_name="Sipho",
        last_name="Dlamini",
        billing_address_line1="14 Jacaranda Street",
        billing_suburb="Parkhurst",
        billing_city="Johannesburg",
        billing_province="Gauteng",
        billing_postal_code="2193",
    )


@pytest.fixture
def business_customer(make_customer):
    return make_customer(
        first_name="Lerato",
        last_name="Mokoena",
        account_type="business",
        company_name="Mokoena Logistics (Pty) Ltd",
        vat_number="4123456789",
        billing_address_line1="5 Rivonia Road",
        billing_suburb="Rivonia",
        billing_city="Sandton",
        billing_province="Gauteng",
        billing_postal_code="2128",
    )


@pytest.fixture
def december_invoice(make_service, billing_actor):
    """Factory: the committed invoice of the run on 24 Nov for December (R799)."""

    def _make(customer):
        service = make_service(customer, billing_date=1, next_billing_date=date(2026, 12, 1))
        run_invoices(RUN_DATE, actor=billing_actor)
        return db.session.scalars(
            select(CustomerInvoice).where(CustomerInvoice.service_id == service.id)
        ).one()

    return _make


def _text(document: bytes) -> str:
    """The document's text, one printed line or table cell per line."""
    reader = pypdf.PdfReader(io.BytesIO(document))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return "\n".join(line.strip() for line in text.splitlines())


def _font_names(document: bytes) -> set[str]:
    page = pypdf.PdfReader(io.BytesIO(document)).pages[0]
    return {str(font.get_object()["/BaseFont"]) for font in page["/Resources"]["/Font"].values()}


def test_residential_tax_invoice_has_every_required_detail(residential_customer, december_invoice):
    invoice = december_invoice(residential_customer)
    text = _text(pdf.render_invoice_pdf(invoice))

    # VAT-exclusive value, VAT at the rate, total and amount due, each with its amount.
    assert "Total excl. VAT\nR694.78\nVAT 15%\nR104.22\nTotal incl. VAT\nR799.00" in text
    assert "Amount due\nR799.00" in text
    for printed in (
        "Tax Invoice",
        # Supplier: name, address, VAT and registration numbers, contact.
        "CircleTel (Pty) Ltd",
        "West House, 7 Autumn Road, Rivonia, Sandton, 2128",
        "VAT number: 4870271653",
        "2008/026404/07",
        "billing@circletel.co.za",
        "+27 87 087 6305",
        # Customer: name and billing address.
        "Sipho Dlamini",
        "14 Jacaranda Street",
        "Parkhurst",
        "Gauteng 2193",
        # The invoice itself.
        "INV-2026-00001",
        "24 Nov 2026",  # invoice date
        "1 Dec 2026",  # due date
        residential_customer.account_number,
        "1 Dec – 31 Dec 2026",  # period_end 1 Jan is exclusive
        "Fibre 100 – 1 Dec – 31 Dec 2026\n1\nR799.00\nR799.00",  # description, qty, amounts
        # Payment instructions with the account number as the reference.
        "First National Bank",
        "62812345678",
        "250655",
    ):
        assert printed in text, printed
    assert f"Reference\n{residential_customer.account_number}" in text
    assert text.count("VAT number") == 1  # the supplier's only: a consumer has none


def test_business_invoice_prints_the_customers_vat_number(business_customer, december_invoice):
    text = _text(pdf.render_invoice_pdf(december_invoice(business_customer)))

    assert "Mokoena Logistics (Pty) Ltd" in text
    assert "Attention: Lerato Mokoena" in text
    assert "VAT number: 4123456789" in text
    assert "5 Rivonia Road" in text


def test_rerendering_after_the_customer_changed_gives_the_same_document(
    business_customer, december_invoice
):
    invoice = december_invoice(business_customer)
    first = pdf.render_invoice_pdf(invoice)

    business_customer.company_name = "Renamed Holdings"
    business_customer.billing_address_line1 = "1 Other Street"
    db.session.commit()
    db.session.expire_all()
    again = pdf.render_invoice_pdf(db.session.get(CustomerInvoice, invoice.id))

    assert again == first  # byte for byte: the snapshot, and reproducible output
    assert "Renamed Holdings" not in _text(again)


def test_pro_rata_invoice_shows_its_days(residential_customer, make_service, billing_actor):
    service = make_service(residential_customer, billing_date=1, next_billing_date=None)
    invoice = issue_period_invoice(
        service,
        Period(date(2026, 11, 15), date(2026, 12, 1)),
        invoice_type="pro_rata",
        invoice_date=date(2026, 11, 15),
        actor=billing_actor,
    )
    db.session.commit()
    text = _text(pdf.render_invoice_pdf(invoice))

    assert "Fibre 100 – pro-rata 15 Nov – 30 Nov 2026, 16/30 days" in text
    assert "16/30" in text
    assert "R426.13" in text  # R799 × 16/30
    assert "15 Nov – 30 Nov 2026" in text


def test_payments_and_credits_after_issue_do_not_change_the_document(
    residential_customer, december_invoice, billing_actor
):
    invoice = december_invoice(residential_customer)
    as_issued = pdf.render_invoice_pdf(invoice)
    record_payment(
        customer=residential_customer,
        amount=Decimal("500.00"),
        method="eft",
        idempotency_key="pdf-part-payment",
        actor=billing_actor,
        reason="EFT received",
        invoice=invoice,
    )
    issue_credit_note(invoice, Decimal("100.00"), actor=billing_actor, reason="goodwill")
    db.session.commit()

    assert invoice.amount_due == Decimal("199.00")
    assert pdf.render_invoice_pdf(invoice) == as_issued  # the tax invoice as issued
    assert "Amount due\nR799.00" in _text(as_issued)


def test_an_invoice_without_a_number_is_not_rendered(
    residential_customer, make_service, billing_actor
):
    service = make_service(residential_customer, next_billing_date=None)
    invoice = issue_period_invoice(
        service,
        Period(date(2026, 12, 1), date(2027, 1, 1)),
        invoice_type="recurring",
        invoice_date=RUN_DATE,
        actor=billing_actor,
    )
    with pytest.raises(Conflict, match="has no number yet"):
        pdf.render_invoice_pdf(invoice)
    with pytest.raises(Conflict, match="has no number yet"):
        pdf.store_invoice_pdf(invoice)
    db.session.rollback()


def test_stored_pdf_is_kept_under_its_number_and_rendered_again_when_missing(
    residential_customer, december_invoice, document_dir
):
    invoice = december_invoice(residential_customer)
    path = pdf.store_invoice_pdf(invoice)
    db.session.commit()

    stored = document_dir / "2026" / "INV-2026-00001.pdf"
    assert path == "2026/INV-2026-00001.pdf" == invoice.pdf_path
    assert invoice.pdf_generated_at == clock.now()
    assert stored.read_bytes() == pdf.render_invoice_pdf(invoice)
    assert pdf.invoice_pdf_bytes(invoice) == stored.read_bytes()

    original = stored.read_bytes()
    stored.write_bytes(b"%PDF kept")
    assert pdf.store_invoice_pdf(invoice) == path  # a retried job leaves the stored file
    assert pdf.invoice_pdf_bytes(invoice) == b"%PDF kept"

    stored.unlink()
    assert pdf.invoice_pdf_bytes(invoice) == original
    assert stored.read_bytes() == original


def test_storage_never_overwrites_a_different_document(tmp_path):
    storage = pdf.DirectoryStorage(tmp_path)
    assert storage.save("2026/INV-2026-00007.pdf", b"%PDF first") == "2026/INV-2026-00007.pdf"
    assert storage.save("2026/INV-2026-00007.pdf", b"%PDF first") == "2026/INV-2026-00007.pdf"

    with pytest.raises(pdf.StoredDocumentConflict, match="different document"):
        storage.save("2026/INV-2026-00007.pdf", b"%PDF second")

    assert storage.load("2026/INV-2026-00007.pdf") == b"%PDF first"
    assert [p.name for p in (tmp_path / "2026").iterdir()] == ["INV-2026-00007.pdf"]


@pytest.mark.parametrize("key", ["../outside.pdf", "/etc/passwd", "2026/../../outside.pdf", ""])
def test_storage_keys_cannot_leave_the_storage_directory(tmp_path, key):
    storage = pdf.DirectoryStorage(tmp_path / "documents")
    with pytest.raises(ValueError, match="not a storage key"):
        storage.save(key, b"%PDF")
    with pytest.raises(ValueError, match="not a storage key"):
        storage.load(key)


def test_credit_note_pdf_names_the_invoice_it_corrects(
    business_customer, december_invoice, billing_actor, document_dir
):
    invoice = december_invoice(business_customer)
    note = issue_credit_note(
        invoice, Decimal("100.00"), actor=billing_actor, reason="Fibre outage 3–5 Dec"
    )
    db.session.commit()
    document = pdf.credit_note_pdf_bytes(note)
    db.session.commit()
    text = _text(document)

    for printed in (
        "Credit Note",
        "CN-2026-00001",
        "INV-2026-00001",
        "24 Nov 2026",
        "Mokoena Logistics (Pty) Ltd",
        "VAT number: 4123456789",
        "VAT number: 4870271653",
        "Fibre outage 3–5 Dec",
        "Total excl. VAT\nR86.96\nVAT 15%\nR13.04\nTotal credit incl. VAT\nR100.00",
    ):
        assert printed in text, printed
    assert "Tax Invoice" not in text
    assert note.pdf_path == "2026/CN-2026-00001.pdf"
    assert (document_dir / note.pdf_path).read_bytes() == document


def test_page_one_looks_like_a_page_with_content(business_customer, december_invoice, tmp_path):
    document = pdf.render_invoice_pdf(december_invoice(business_customer))
    png = tmp_path / "invoice-page1.png"
    rendered = pypdfium2.PdfDocument(document)
    try:
        assert len(rendered) == 1
        rendered[0].render(scale=1.5).to_pil().save(png)
    finally:
        rendered.close()
    RESULTS_DIR.mkdir(exist_ok=True)
    shutil.copyfile(png, RESULTS_DIR / "invoice-page1.png")  # to look at after a run

    with Image.open(png) as image:
        width, height = image.size
        histogram = image.convert("L").histogram()
    assert (width, height) == (893, 1263)  # A4 at 108 dpi
    dark = sum(histogram[:128])
    assert 0.005 < dark / (width * height) < 0.5  # printed text, not a blank or black page
    assert png.stat().st_size > 20_000


def test_the_configured_logo_is_embedded_and_a_missing_one_falls_back_to_text(
    app, business_customer, december_invoice, tmp_path, monkeypatch, caplog
):
    invoice = december_invoice(business_customer)
    logo = tmp_path / "logo.png"
    Image.new("RGB", (240, 80), (11, 79, 108)).save(logo)
    monkeypatch.setitem(app.config, "SUPPLIER_LOGO_PATH", str(logo))
    with_logo = pypdf.PdfReader(io.BytesIO(pdf.render_invoice_pdf(invoice)))
    assert len(with_logo.pages[0].images) == 1

    monkeypatch.setitem(app.config, "SUPPLIER_LOGO_PATH", str(tmp_path / "missing.png"))
    with caplog.at_level(logging.WARNING, logger="app.billing.pdf"):
        document = pdf.render_invoice_pdf(invoice)
    assert len(pypdf.PdfReader(io.BytesIO(document)).pages[0].images) == 0
    assert _text(document).startswith("CircleTel")  # the text logo
    assert "cannot be read" in caplog.text


def test_rendering_logs_no_ignored_css_or_blocked_resources(
    business_customer, december_invoice, billing_actor, caplog
):
    invoice = december_invoice(business_customer)
    note = issue_credit_note(invoice, Decimal("50.00"), actor=billing_actor, reason="goodwill")
    db.session.commit()
    with caplog.at_level(logging.DEBUG, logger="xhtml2pdf"):
        invoice_pdf = pdf.render_invoice_pdf(invoice)
        pdf.render_credit_note_pdf(note)

    complaints = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert complaints == [], [r.getMessage() for r in complaints]
    assert "Ignoring CSS" not in caplog.text and "Blocked" not in caplog.text
    assert {"/AAAAAA+DejaVuSans", "/AAAAAA+DejaVuSans-Bold"} <= _font_names(invoice_pdf)


def test_without_dejavu_the_invoice_falls_back_to_helvetica(
    residential_customer, december_invoice, tmp_path, monkeypatch, caplog
):
    invoice = december_invoice(residential_customer)
    monkeypatch.setattr(pdf, "REGULAR_FONT", tmp_path / "DejaVuSans.ttf")
    with caplog.at_level(logging.WARNING):
        document = pdf.render_invoice_pdf(invoice)

    assert not any("DejaVu" in name for name in _font_names(document))
    assert "1 Dec – 31 Dec 2026" in _text(document)
    assert "falling back to Helvetica" in caplog.text
    assert "Blocked" not in caplog.text
