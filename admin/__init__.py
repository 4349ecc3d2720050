"""Flask-Admin console: views, reason forms, action pages, the customer page."""

from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from admin.billing import (
    AllocationView,
    CreditNoteView,
    DunningPreviewView,
    InvoiceRunView,
    InvoiceView,
    LedgerEntryView,
)
from admin.customers import (
    CustomerBillingView,
    CustomerView,
    OrderView,
    SuspensionView,
    UsageView,
)
from admin.debit_orders import (
    DebitOrderBatchConsoleView,
    DebitOrderItemConsoleView,
    DebitOrderMethodPage,
    DebitOrderReturnView,
    NetcashPostbackView,
    NetcashStatementLineView,
)
from admin.jobs import JobsPage
from admin.notifications import NotificationLogView
from admin.operations import (
    AuditLogView,
    DunningActionView,
    JobRunView,
    ServiceActionLogView,
    SettingView,
    StaffUserView,
    ValidationErrorView,
)
from admin.payments import (
    PaymentMethodView,
    PaymentRequestView,
    PaymentView,
)
from admin.provider_tasks import ProviderTaskConsoleView
from admin.services import ServiceView
from admin.usage import UsageWatchView
from admin.views import SecureIndexView
from app.models import (
    Allocation,
    AuditLog,
    ConsumerOrder,
    CreditNote,
    CronExecutionLog,
    Customer,
    CustomerBilling,
    CustomerInvoice,
    CustomerPaymentMethod,
    CustomerService,
    DebitOrderBatch,
    DebitOrderItem,
    DunningAction,
    LedgerEntry,
    NetcashPostback,
    NetcashStatementLine,
    Notification,
    PaymentRequest,
    PaymentTransaction,
    ProviderTask,
    ServiceActionLog,
    ServiceSuspension,
    Setting,
    StaffUser,
    UsageHistory,
    ValidationError,
)


def build_admin(app) -> Admin:
    """Create the console for this app (a new Admin per app: see ecosystem-notes A.1).

    Endpoints are named explicitly: a view's default endpoint is its model's name, which
    could collide with a blueprint (ecosystem-notes A.1).
    """
    admin = Admin(
        app,
        name=f"{app.config['BRAND_NAME']} Console",
        url="/admin",
        index_view=SecureIndexView(url="/admin", name="Dashboard"),
        theme=Bootstrap4Theme(swatch="flatly", base_template="admin/isp_base.html"),
    )
    admin.add_views(
        CustomerView(Customer, name="Customers", category="Customers", endpoint="customers"),
        ServiceView(CustomerService, name="Services", category="Customers", endpoint="services"),
        UsageView(UsageHistory, name="Usage", category="Customers", endpoint="usage"),
        UsageWatchView(name="Usage watch", category="Customers", endpoint="usage_watch"),
        SuspensionView(
            ServiceSuspension, name="Suspensions", category="Customers", endpoint="suspensions"
        ),
        OrderView(ConsumerOrder, name="Orders", category="Customers", endpoint="orders"),
        CustomerBillingView(
            CustomerBilling,
            name="Billing profiles",
            category="Billing",
            endpoint="customer_billing",
        ),
        InvoiceView(CustomerInvoice, name="Invoices", category="Billing", endpoint="invoices"),
        CreditNoteView(
            CreditNote, name="Credit notes", category="Billing", endpoint="credit_notes"
        ),
        AllocationView(Allocation, name="Allocations", category="Billing", endpoint="allocations"),
        LedgerEntryView(
            LedgerEntry, name="Ledger entries", category="Billing", endpoint="ledger_entries"
        ),
        InvoiceRunView(name="Invoice run", category="Billing", endpoint="invoice_run"),
        DunningPreviewView(name="Dunning preview", category="Billing", endpoint="dunning_preview"),
        PaymentView(PaymentTransaction, name="Payments", category="Payments", endpoint="payments"),
        PaymentMethodView(
            CustomerPaymentMethod,
            name="Payment methods",
            category="Payments",
            endpoint="payment_methods",
        ),
        PaymentRequestView(
            PaymentRequest,
            name="Pay Now requests",
            category="Payments",
            endpoint="payment_requests",
        ),
        DebitOrderBatchConsoleView(
            DebitOrderBatch,
            name="Debit-order batches",
            category="Payments",
            endpoint="debit_order_batches",
        ),
        DebitOrderItemConsoleView(
            DebitOrderItem,
            name="Debit-order items",
            category="Payments",
            endpoint="debit_order_items",
        ),
        DebitOrderReturnView(
            DebitOrderItem,
            name="Debit-order returns",
            category="Payments",
            endpoint="debit_order_returns",
        ),
        NetcashStatementLineView(
            NetcashStatementLine,
            name="NetCash statement",
            category="Payments",
            endpoint="netcash_statement_lines",
        ),
        NetcashPostbackView(
            NetcashPostback,
            name="NetCash postbacks",
            category="Payments",
            endpoint="netcash_postbacks",
        ),
        DebitOrderMethodPage(
            name="Debit orders", category="Payments", endpoint="debit_order_methods"
        ),
        JobRunView(CronExecutionLog, name="Job runs", category="Operations", endpoint="job_runs"),
        JobsPage(name="Run a job", category="Operations", endpoint="jobs"),
        NotificationLogView(
            Notification, name="Notifications", category="Operations", endpoint="notifications"
        ),
        ProviderTaskConsoleView(
            ProviderTask, name="Provider tasks", category="Operations", endpoint="provider_tasks"
        ),
        DunningActionView(
            DunningAction, name="Dunning actions", category="Operations", endpoint="dunning_actions"
        ),
        ValidationErrorView(
            ValidationError,
            name="Validation errors",
            category="Operations",
            endpoint="validation_errors",
        ),
        AuditLogView(AuditLog, name="Audit log", category="Logs", endpoint="audit_log"),
        ServiceActionLogView(
            ServiceActionLog,
            name="Service action log",
            category="Logs",
            endpoint="service_action_log",
        ),
        SettingView(Setting, name="Settings", category="Settings", endpoint="settings"),
        StaffUserView(StaffUser, name="Staff users", category="Settings", endpoint="staff_users"),
    )
    return admin
