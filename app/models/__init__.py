"""SQLAlchemy models, one module per aggregate. Importing this package registers them all."""

from app.models.billing import Allocation, CreditNote, CustomerInvoice, LedgerEntry
from app.models.customers import (
    AccountNumberCounter,
    CreditNoteNumberCounter,
    Customer,
    CustomerBilling,
    InvoiceNumberCounter,
)
from app.models.ops import AuditLog, CronExecutionLog, DunningAction, Setting
from app.models.orders import ConsumerOrder, ValidationError
from app.models.outbox import Notification, OtpCode, ProviderTask
from app.models.payments import (
    CustomerPaymentMethod,
    DebitOrderBatch,
    DebitOrderItem,
    NetcashPostback,
    NetcashStatementLine,
    PaymentRequest,
    PaymentTransaction,
)
from app.models.services import CustomerService, ServiceActionLog, ServiceSuspension
from app.models.staff import StaffUser
from app.models.usage import UsageAlert, UsageHistory

__all__ = [
    "AccountNumberCounter",
    "Allocation",
    "AuditLog",
    "ConsumerOrder",
    "CreditNote",
    "CreditNoteNumberCounter",
    "CronExecutionLog",
    "Customer",
    "CustomerBilling",
    "CustomerInvoice",
    "CustomerPaymentMethod",
    "CustomerService",
    "DebitOrderBatch",
    "DebitOrderItem",
    "DunningAction",
    "InvoiceNumberCounter",
    "LedgerEntry",
    "NetcashPostback",
    "NetcashStatementLine",
    "Notification",
    "OtpCode",
    "PaymentRequest",
    "PaymentTransaction",
    "ProviderTask",
    "ServiceActionLog",
    "ServiceSuspension",
    "Setting",
    "StaffUser",
    "UsageAlert",
    "UsageHistory",
    "ValidationError",
]
