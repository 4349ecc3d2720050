"""Console views of billing documents and money movements, and the billing pages.

The lists are read-only: documents change only through the billing domain, from the action
pages here (record a payment, issue a credit note, cancel an invoice, download a PDF), the
invoice-run page (preview, start, watch progress) and the dunning preview. Each page parses
its form, checks the permission, calls one domain function, commits and shows the result.
"""

import io
import uuid
from datetime import date, timedelta

from flask import abort, current_app, flash, redirect, request, send_file
from flask_admin import expose
from flask_admin.model.template import EndpointLinkRowAction

from admin.formatters import format_rand, format_sast
from admin.forms import (
    CancelInvoiceForm,
    CreditNoteForm,
    DunningPreviewForm,
    InvoiceRunDateForm,
    RecordPaymentForm,
    StartInvoiceRunForm,
    show_domain_error,
)
from admin.views import (
    ConsoleModelView,
    ConsolePage,
    choice_filter,
    customer_link,
    require_permission,
    staff_can,
)
from app import clock
from app.auth import actor_for_request
from app.billing.allocation import amount_due, live_allocated
from app.billing.credit_notes import cancel_invoice, creditable, issue_credit_note
from app.billing.invoicing import (
    INVOICE_RUN_JOB,
    REQUEST_INVOICE_RUN,
    request_invoice_run,
    requested_invoice_run,
)
from app.billing.payments import record_payment
from app.billing.pdf import credit_note_pdf_bytes, invoice_pdf_bytes
from app.billing.reports import invoice_allocations, preview_invoice_run, recent_runs
from app.dunning import preview_dunning
from app.errors import DomainError
from app.extensions import db
from app.models import (
    Allocation,
    AuditLog,
    CreditNote,
    CronExecutionLog,
    CustomerInvoice,
    LedgerEntry,
)
from app.models.billing import (
    ALLOCATION_SOURCES,
    INVOICE_STATUSES,
    INVOICE_TYPES,
    LEDGER_ENTRY_TYPES,
)

# How often the progress page of a running invoice run reloads itself.
PROGRESS_REFRESH_SECONDS = 3


def pdf_download(data: bytes, number: str):
    return send_file(
        io.BytesIO(data),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=f"{number}.pdf",
    )


class InvoiceView(ConsoleModelView):
    """Invoices; amounts never change after issue (credit notes correct them)."""

    column_list = (
        "invoice_number",
        "customer",
        "invoice_date",
        "due_date",
        "period_start",
        "period_end",
        "invoice_type",
        "status",
        "total_amount",
        "amount_due",
    )
    column_labels = {"period_end": "Period end (exclusive)"}
    column_searchable_list = (
        "invoice_number",
        "customer.account_number",
        "customer.email",
        "customer.last_name",
    )
    column_filters = (
        choice_filter(CustomerInvoice.status, INVOICE_STATUSES),
        choice_filter(CustomerInvoice.invoice_type, INVOICE_TYPES),
        "invoice_date",
        "due_date",
    )
    column_formatters = {"customer": customer_link}
    column_default_sort = ("invoice_date", True)
    details_template = "admin/billing/invoice_details.html"

    # --- what the logged-in user may do with an invoice ---------------------------------

    @property
    def may_record_payment(self) -> bool:
        return staff_can("payments:record")

    @property
    def may_correct(self) -> bool:
        """Credit notes and cancellation."""
        return staff_can("billing:manage")

    def get_list_row_actions(self):
        actions = [
            *super().get_list_row_actions(),
            EndpointLinkRowAction(
                "fa fa-file-pdf-o", ".invoice_pdf", title="Download PDF", id_arg="invoice_id"
            ),
        ]
        if self.may_record_payment:
            actions.append(
                EndpointLinkRowAction(
                    "fa fa-money",
                    ".record_payment_view",
                    title="Record payment",
                    id_arg="invoice_id",
                )
            )
        if self.may_correct:
            actions.append(
                EndpointLinkRowAction(
                    "fa fa-undo",
                    ".credit_note_view",
                    title="Issue credit note",
                    id_arg="invoice_id",
                )
            )
        return actions

    def render(self, template, **kwargs):
        # The details page also lists which payments and credit notes settled the invoice.
        if template == self.details_template and kwargs.get("model") is not None:
            kwargs["allocations"] = invoice_allocations(kwargs["model"].id)
            kwargs["format_rand"] = format_rand
            kwargs["format_sast"] = format_sast
        return super().render(template, **kwargs)

    # --- action pages ---------------------------------------------------------------------

    def _invoice(self, invoice_id: int) -> CustomerInvoice:
        invoice = db.session.get(CustomerInvoice, invoice_id)
        if invoice is None:
            abort(404)
        return invoice

    def _details_url(self, invoice: CustomerInvoice) -> str:
        return self.get_url(".details_view", id=invoice.id)

    def _render_action(self, invoice, form, *, title: str, submit: str, note: str = ""):
        return self.render(
            "admin/billing/invoice_action.html",
            invoice=invoice,
            form=form,
            title=title,
            submit=submit,
            note=note,
            amount_due=amount_due(invoice),
            details_url=self._details_url(invoice),
            format_rand=format_rand,
        )

    @expose("/<int:invoice_id>/pdf")
    def invoice_pdf(self, invoice_id):
        """The tax invoice PDF (rendered and stored first when it is missing)."""
        invoice = self._invoice(invoice_id)
        try:
            data = invoice_pdf_bytes(invoice)
            db.session.commit()  # keeps the stored file's path on the invoice
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "error")
            return redirect(self._details_url(invoice))
        return pdf_download(data, invoice.invoice_number)

    @expose("/<int:invoice_id>/payment", methods=("GET", "POST"))
    def record_payment_view(self, invoice_id):
        """Record money received against this invoice (the rest becomes account credit)."""
        require_permission("payments:record")
        invoice = self._invoice(invoice_id)
        form = RecordPaymentForm()
        if request.method == "GET":
            form.amount.data = amount_due(invoice) if amount_due(invoice) > 0 else None
            form.payment_date.data = clock.today()
            form.idempotency_key.data = f"console-{uuid.uuid4().hex}"
        if form.validate_on_submit():
            try:
                payment, created = record_payment(
                    customer=invoice.customer,
                    amount=form.amount.data,
                    method=form.method.data,
                    idempotency_key=form.idempotency_key.data,
                    actor=actor_for_request(),
                    reason=form.reason.data,
                    payment_date=form.payment_date.data,
                    invoice=invoice,
                    provider_reference=form.reference.data or None,
                )
                allocated = live_allocated(payment)
                db.session.commit()
            except DomainError as error:
                db.session.rollback()
                show_domain_error(form, error)
            else:
                if created:
                    flash(
                        f"Payment of {format_rand(payment.amount)} recorded: "
                        f"{format_rand(allocated)} allocated to invoices, "
                        f"{format_rand(payment.amount - allocated)} left as account credit.",
                        "success",
                    )
                else:
                    flash(
                        "This payment was already recorded (the form was sent twice); "
                        "nothing more was recorded.",
                        "info",
                    )
                return redirect(self._details_url(invoice))
        return self._render_action(
            invoice,
            form,
            title=f"Record a payment for {invoice}",
            submit="Record payment",
        )

    @expose("/<int:invoice_id>/credit-note", methods=("GET", "POST"))
    def credit_note_view(self, invoice_id):
        """Credit part or all of what is still creditable on this invoice."""
        require_permission("billing:manage")
        invoice = self._invoice(invoice_id)
        form = CreditNoteForm()
        if form.validate_on_submit():
            try:
                note = issue_credit_note(
                    invoice, form.amount.data, actor=actor_for_request(), reason=form.reason.data
                )
                db.session.commit()
            except DomainError as error:
                db.session.rollback()
                show_domain_error(form, error)
            else:
                flash(
                    f"Credit note {note} for {format_rand(note.total_amount)} issued "
                    f"against {invoice}.",
                    "success",
                )
                return redirect(self._details_url(invoice))
        return self._render_action(
            invoice,
            form,
            title=f"Issue a credit note against {invoice}",
            submit="Issue credit note",
            note=f"Still creditable: {format_rand(creditable(invoice))} (incl. VAT).",
        )

    @expose("/<int:invoice_id>/cancel", methods=("GET", "POST"))
    def cancel_view(self, invoice_id):
        """Cancel this invoice with a credit note for everything not yet credited."""
        require_permission("billing:manage")
        invoice = self._invoice(invoice_id)
        form = CancelInvoiceForm()
        if form.validate_on_submit():
            try:
                note = cancel_invoice(invoice, actor=actor_for_request(), reason=form.reason.data)
                db.session.commit()
            except DomainError as error:
                db.session.rollback()
                show_domain_error(form, error)
            else:
                flash(
                    f"Invoice {invoice} cancelled with credit note {note} "
                    f"for {format_rand(note.total_amount)}.",
                    "success",
                )
                return redirect(self._details_url(invoice))
        return self._render_action(
            invoice,
            form,
            title=f"Cancel invoice {invoice}",
            submit="Cancel invoice",
            note=(
                f"A credit note for {format_rand(creditable(invoice))} will be issued; "
                "money already paid on the invoice stays on the account as credit."
            ),
        )


class CreditNoteView(ConsoleModelView):
    """Credit notes: corrections of one issued invoice each."""

    column_list = (
        "credit_note_number",
        "customer",
        "invoice",
        "credit_note_date",
        "total_amount",
        "vat_amount",
        "reason",
        "actor",
    )
    column_searchable_list = ("credit_note_number", "invoice.invoice_number", "reason")
    column_filters = ("credit_note_date",)
    column_formatters = {"customer": customer_link}
    column_default_sort = ("credit_note_date", True)
    column_extra_row_actions = [
        EndpointLinkRowAction(
            "fa fa-file-pdf-o", ".credit_note_pdf", title="Download PDF", id_arg="credit_note_id"
        )
    ]

    @expose("/<int:credit_note_id>/pdf")
    def credit_note_pdf(self, credit_note_id):
        """The credit note PDF (rendered and stored first when it is missing)."""
        note = db.session.get(CreditNote, credit_note_id)
        if note is None:
            abort(404)
        try:
            data = credit_note_pdf_bytes(note)
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "error")
            return redirect(self.get_url(".details_view", id=note.id))
        return pdf_download(data, note.credit_note_number)


class AllocationView(ConsoleModelView):
    """Which payment or credit note settled which invoice."""

    column_list = (
        "invoice",
        "source",
        "payment_id",
        "credit_note_id",
        "amount",
        "created_at",
        "reversed_at",
        "reversal_reason",
    )
    column_labels = {"payment_id": "Payment", "credit_note_id": "Credit note"}
    column_searchable_list = ("invoice.invoice_number",)
    column_filters = (choice_filter(Allocation.source, ALLOCATION_SOURCES), "reversed_at")


class LedgerEntryView(ConsoleModelView):
    """Every money movement on an account; the balance is their sum (positive = owed)."""

    column_list = (
        "entry_date",
        "customer_id",
        "entry_type",
        "amount",
        "description",
        "invoice_id",
        "payment_id",
        "credit_note_id",
        "actor",
    )
    column_labels = {
        "customer_id": "Customer",
        "invoice_id": "Invoice",
        "payment_id": "Payment",
        "credit_note_id": "Credit note",
    }
    column_searchable_list = ("description", "actor")
    column_filters = (
        choice_filter(LedgerEntry.entry_type, LEDGER_ENTRY_TYPES),
        "entry_date",
        "customer_id",
    )
    column_formatters = {"customer_id": customer_link}
    column_default_sort = ("entry_date", True)


class InvoiceRunView(ConsolePage):
    """The invoice run: preview a date (anyone who sees billing), start it (billing:manage),
    and watch it run."""

    @expose("/")
    def index(self):
        """Pick a date and preview its run: a dry run through the real code, rolled back."""
        date_form = InvoiceRunDateForm(request.args)
        if "date" not in request.args:
            date_form.date.data = clock.today()
        preview = None
        start_form = None
        if "date" in request.args and date_form.validate():
            preview = preview_invoice_run(
                date_form.date.data,
                actor=actor_for_request(),
                chunk_size=current_app.config["INVOICE_RUN_CHUNK_SIZE"],
            )
            start_form = StartInvoiceRunForm(date=date_form.date.data)
        return self._render_page(date_form, preview, start_form)

    @expose("/start", methods=("POST",))
    def start(self):
        """Start the real run of a date on the billing queue, with a reason."""
        require_permission("billing:manage")
        form = StartInvoiceRunForm()
        if not form.validate_on_submit():
            return self._render_page(self._date_form(form.date.data), None, form)
        run_date = form.date.data
        try:
            request_entry = request_invoice_run(
                run_date, actor=actor_for_request(), reason=form.reason.data
            )
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            show_domain_error(form, error)
            return self._render_page(self._date_form(run_date), None, form)
        flash(f"Invoice run for {run_date.isoformat()} started.", "success")
        return redirect(self.get_url(".request_progress", request_id=request_entry.id))

    @expose("/requests/<int:request_id>")
    def request_progress(self, request_id):
        """Where a started run stands: waiting for a worker, or on to its progress page."""
        entry = db.session.get(AuditLog, request_id)
        if entry is None or entry.action != REQUEST_INVOICE_RUN:
            abort(404)
        run = requested_invoice_run(entry)
        if run is not None:
            return redirect(self.get_url(".run_progress", run_id=run.id))
        return self.render(
            "admin/billing/invoice_run_progress.html",
            run=None,
            request_entry=entry,
            refresh_seconds=PROGRESS_REFRESH_SECONDS,
            format_sast=format_sast,
        )

    @expose("/runs/<int:run_id>")
    def run_progress(self, run_id):
        """Chunks done and counts of one invoice run; reloads itself while it runs."""
        run = db.session.get(CronExecutionLog, run_id)
        if run is None or run.job_name != INVOICE_RUN_JOB:
            abort(404)
        return self.render(
            "admin/billing/invoice_run_progress.html",
            run=run,
            request_entry=None,
            refresh_seconds=PROGRESS_REFRESH_SECONDS if run.status == "running" else None,
            failures=(run.error_details or {}).get("failures", []),
            format_sast=format_sast,
        )

    @staticmethod
    def _date_form(run_date: date | None) -> InvoiceRunDateForm:
        return InvoiceRunDateForm(formdata=None, data={"date": run_date or clock.today()})

    def _render_page(self, date_form, preview, start_form):
        return self.render(
            "admin/billing/invoice_run.html",
            date_form=date_form,
            preview=preview,
            start_form=start_form,
            may_start=staff_can("billing:manage"),
            recent=recent_runs(INVOICE_RUN_JOB),
            format_rand=format_rand,
            format_sast=format_sast,
        )


class DunningPreviewView(ConsolePage):
    """What the next overdue marking and dunning run would do, for anyone who sees billing."""

    @expose("/")
    def index(self):
        """Preview a day's dunning (default tomorrow): the real rules, rolled back."""
        if "date" in request.args:
            form = DunningPreviewForm(request.args)
            day = form.date.data if form.validate() else None
        else:
            day = clock.today() + timedelta(days=1)
            form = DunningPreviewForm(formdata=None, data={"date": day})
        preview = preview_dunning(day) if day else None
        return self.render(
            "admin/billing/dunning_preview.html",
            form=form,
            preview=preview,
            format_rand=format_rand,
        )
