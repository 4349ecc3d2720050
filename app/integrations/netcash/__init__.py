"""NetCash: debit-order batches, eMandates, the merchant statement (NIWS_NIF SOAP) and Pay Now.

Wire formats are those of integrations.md §1; the client is the production client, pointed at
the sandbox (`app.integrations.sandbox.netcash`) by URL in development and tests.
"""

from app.integrations.netcash.batch import DebitLine, build_debit_batch, parse_batch_file
from app.integrations.netcash.paynow import PayNowNotify, parse_paynow_notify, paynow_form
from app.integrations.netcash.reports import (
    BatchStatus,
    LoadReport,
    LoadReportError,
    MandateStatusLine,
    StatementLine,
)
from app.integrations.netcash.soap import (
    MandateRequest,
    MandateResult,
    NetcashClient,
    NetcashError,
    SoapFault,
)

__all__ = [
    "BatchStatus",
    "DebitLine",
    "LoadReport",
    "LoadReportError",
    "MandateRequest",
    "MandateResult",
    "MandateStatusLine",
    "NetcashClient",
    "NetcashError",
    "PayNowNotify",
    "SoapFault",
    "StatementLine",
    "build_debit_batch",
    "parse_batch_file",
    "parse_paynow_notify",
    "paynow_form",
]
