"""Console views of billing documents and money movements: read-only, changed only by the
billing domain (invoice runs, credit notes, payments)."""

from admin.views import ConsoleModelView, choice_filter, customer_link
from app.models import Allocation, CustomerInvoice, LedgerEntry
from app.models.billing import (
    ALLOCATION_SOURCES,
    INVOICE_STATUSES,
    INVOICE_TYPES,
    LEDGER_ENTRY_TYPES,
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
