"""The OpenAPI 3.1 document of the JSON API (DESIGN §7), served at /api/openapi.json.

Written out by hand, as a plain dict: the admin endpoints here; the customer /api/dashboard
endpoints are described beside their routes (app/api/dashboard/*) and merged in.
tests/api checks that every API route is described and every reference resolves.
"""

from copy import deepcopy


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict) -> dict:
    return {"oneOf": [schema, {"type": "null"}]}


def _object(properties: dict, *, required=(), closed: bool = False, description=None) -> dict:
    schema = {"type": "object", "properties": properties, "required": list(required)}
    if closed:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


def _json(schema: dict, example: dict | None = None) -> dict:
    media = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"application/json": media}


def _error_example(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


MONEY = _ref("Money")
DATE = {"type": "string", "format": "date", "examples": ["2026-11-15"]}
TEXT = {"type": "string"}
ID = {"type": "integer", "minimum": 1}

SCHEMAS = {
    "Money": {
        "type": "string",
        "pattern": r"^-?[0-9]+\.[0-9]{2}$",
        "description": "Rand, exact to the cent, as a string (never a float).",
        "examples": ["799.00"],
    },
    "MoneyInput": {
        "description": (
            "Rand as a string or a JSON number, at most two decimals; parsed exactly, never "
            "through a binary float."
        ),
        "oneOf": [
            {"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,2})?$"},
            {"type": "number", "minimum": 0, "multipleOf": 0.01},
        ],
        "examples": ["999.00", 999],
    },
    "Error": _object(
        {
            "error": _object(
                {
                    "code": {
                        "type": "string",
                        "enum": [
                            "bad_request",
                            "unauthorized",
                            "forbidden",
                            "not_found",
                            "method_not_allowed",
                            "conflict",
                            "validation_error",
                            "too_many_requests",
                            "internal_error",
                        ],
                    },
                    "message": {"type": "string"},
                    "fields": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "description": "The message for each input field at fault.",
                    },
                },
                required=("code", "message", "fields"),
            )
        },
        required=("error",),
    ),
    "Pagination": _object(
        {
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "has_more": {"type": "boolean"},
        },
        required=("total", "limit", "offset", "has_more"),
    ),
    "Period": _object(
        {
            "start": DATE,
            "end": {**DATE, "description": "Exclusive: the next billing date."},
            "label": {"type": "string", "examples": ["15 Nov – 30 Nov 2026"]},
        },
        required=("start", "end", "label"),
    ),
    "LineItem": _object(
        {
            "description": {
                "type": "string",
                "examples": ["Fibre 100 – pro-rata 15 Nov – 30 Nov 2026, 16/30 days"],
            },
            "quantity": {"type": "string", "examples": ["16/30"]},
            "unit_price": MONEY,
            "amount": MONEY,
            "type": {"type": "string"},
            "period_start": DATE,
            "period_end": DATE,
            "days": {"type": "integer"},
            "period_days": {"type": "integer"},
        },
        required=("description", "quantity", "unit_price", "amount", "type"),
    ),
    "Service": _object(
        {
            "id": ID,
            "customer_id": ID,
            "package_name": TEXT,
            "service_type": {"type": "string", "enum": ["fibre", "lte", "5g", "wireless"]},
            "status": {
                "type": "string",
                "enum": ["pending", "active", "suspended", "cancelled"],
            },
            "monthly_price": MONEY,
            "billing_date": {"type": "integer", "enum": [1, 5, 25, 30]},
            "current_period": _nullable(_ref("Period")),
            "next_billing_date": {
                **_nullable(DATE),
                "description": "End of the current billing period (active or suspended only).",
            },
            "invoiced_until": {
                **_nullable(DATE),
                "description": "First day not yet invoiced; runs ahead of next_billing_date.",
            },
            "last_billing_date": _nullable(DATE),
            "activation_date": _nullable(DATE),
            "suspension_date": _nullable(DATE),
            "cancellation_date": _nullable(DATE),
            "cancellation_reason": _nullable(TEXT),
            "speed_download": _nullable(TEXT),
            "speed_upload": _nullable(TEXT),
            "data_cap": _nullable(TEXT),
            "installation_address": TEXT,
            "connection_id": _nullable(TEXT),
        },
        required=("id", "customer_id", "package_name", "status", "monthly_price"),
    ),
    "Invoice": _object(
        {
            "id": ID,
            "invoice_number": {
                **_nullable({"type": "string", "pattern": r"^INV-[0-9]{4}-[0-9]{5,}$"}),
                "examples": ["INV-2026-00001"],
            },
            "invoice_type": {
                "type": "string",
                "enum": ["recurring", "pro_rata", "installation", "equipment", "adjustment"],
            },
            "status": {
                "type": "string",
                "enum": ["unpaid", "partial", "paid", "overdue", "cancelled"],
            },
            "customer_id": ID,
            "service_id": _nullable(ID),
            "invoice_date": DATE,
            "due_date": DATE,
            "period_start": _nullable(DATE),
            "period_end": {**_nullable(DATE), "description": "Exclusive."},
            "period_label": _nullable(TEXT),
            "subtotal": MONEY,
            "vat_rate": MONEY,
            "vat_amount": MONEY,
            "total_amount": MONEY,
            "amount_paid": MONEY,
            "amount_credited": MONEY,
            "amount_due": MONEY,
            "line_items": {"type": "array", "items": _ref("LineItem")},
        },
        required=("id", "invoice_number", "status", "total_amount", "amount_due"),
    ),
    "CreditNote": _object(
        {
            "id": ID,
            "credit_note_number": {
                **_nullable({"type": "string", "pattern": r"^CN-[0-9]{4}-[0-9]{5,}$"}),
                "examples": ["CN-2026-00001"],
            },
            "invoice_id": ID,
            "invoice_number": _nullable(TEXT),
            "credit_note_date": DATE,
            "period_start": _nullable(DATE),
            "period_end": _nullable(DATE),
            "period_label": _nullable(TEXT),
            "subtotal": MONEY,
            "vat_rate": MONEY,
            "vat_amount": MONEY,
            "total_amount": MONEY,
            "reason": TEXT,
        },
        required=("id", "credit_note_number", "invoice_id", "total_amount", "reason"),
    ),
    "ActionResult": _object(
        {
            "action": {
                "type": "string",
                "enum": ["activate", "suspend", "reactivate", "cancel", "change"],
            },
            "service": _ref("Service"),
            "invoices": {"type": "array", "items": _ref("Invoice")},
            "credit_notes": {"type": "array", "items": _ref("CreditNote")},
            "money_effects": {
                "type": "array",
                "items": {"type": "string"},
                "examples": [["Pro-rata invoice R426.13 for 15 Nov – 30 Nov 2026"]],
            },
        },
        required=("action", "service", "invoices", "credit_notes", "money_effects"),
    ),
    "AuditEntry": _object(
        {
            "id": ID,
            "at": {"type": "string", "format": "date-time", "examples": ["2026-11-15T07:00:00Z"]},
            "action": TEXT,
            "actor": _object(
                {
                    "type": {"type": "string", "enum": ["staff", "system"]},
                    "label": {"type": "string", "description": "Staff e-mail or system name."},
                    "staff_user": _nullable(
                        _object({"id": ID, "name": TEXT, "email": TEXT}, required=("id",))
                    ),
                },
                required=("type", "label", "staff_user"),
            ),
            "reason": TEXT,
            "notes": _nullable(TEXT),
            "previous_status": _nullable(TEXT),
            "new_status": _nullable(TEXT),
            "changes": {
                "type": "array",
                "items": _object(
                    {"field": TEXT, "old": {}, "new": {}}, required=("field", "old", "new")
                ),
            },
        },
        required=("id", "at", "action", "actor", "reason", "changes"),
    ),
    "AuditPage": _object(
        {
            "service": _object({"id": ID, "status": TEXT}),
            "entries": {"type": "array", "items": _ref("AuditEntry")},
            "pagination": _ref("Pagination"),
        },
        required=("service", "entries", "pagination"),
    ),
    "BillingView": _object(
        {
            "customer": _object(
                {
                    "id": ID,
                    "account_number": {"type": "string", "examples": ["CT-2026-00001"]},
                    "name": TEXT,
                    "company_name": _nullable(TEXT),
                    "email": TEXT,
                    "phone": _nullable(TEXT),
                    "account_status": TEXT,
                    "account_type": TEXT,
                }
            ),
            "as_of": DATE,
            "billing": _object(
                {
                    "account_balance": {
                        **MONEY,
                        "description": "Positive: the customer owes; negative: credit.",
                    },
                    "balance_label": {
                        "type": "string",
                        "examples": ["Amount due R426.13", "Credit R120.00"],
                    },
                    "credit_limit": MONEY,
                    "primary_payment_method": {
                        **_nullable(TEXT),
                        "examples": ["Debit Order - FNB ***1234"],
                    },
                    "monthly_recurring": MONEY,
                }
            ),
            "totals": _object(
                {
                    "invoiced": MONEY,
                    "paid": {**MONEY, "description": "Net of returned debit orders and refunds."},
                    "credited": MONEY,
                    "adjusted": MONEY,
                    "outstanding": MONEY,
                    "open_invoice_count": {"type": "integer"},
                    "overdue": MONEY,
                    "overdue_invoice_count": {"type": "integer"},
                },
                description="invoiced − paid − credited + adjusted = account_balance.",
            ),
            "open_invoices": {
                "type": "array",
                "description": "Oldest due first, at most 50.",
                "items": {
                    "allOf": [
                        _ref("Invoice"),
                        _object(
                            {
                                "overdue": {"type": "boolean"},
                                "days_past_due": {"type": "integer"},
                            }
                        ),
                    ]
                },
            },
            "recent_payments": {
                "type": "array",
                "description": "Newest first, at most 10.",
                "items": _object(
                    {
                        "id": ID,
                        "transaction_id": TEXT,
                        "payment_date": DATE,
                        "method": TEXT,
                        "amount": MONEY,
                        "status": TEXT,
                        "invoice_id": _nullable(ID),
                        "invoice_number": _nullable(TEXT),
                    }
                ),
            },
            "services": {"type": "array", "items": _ref("Service")},
        },
        required=("customer", "billing", "totals", "open_invoices", "services"),
    ),
    "InvoiceRunResult": _object(
        {
            "run_date": DATE,
            "scope": {"type": "string", "enum": ["selected", "all_due"]},
            "dry_run": {"type": "boolean"},
            "generated": {"type": "integer"},
            "skipped": {"type": "integer"},
            "failed": {"type": "integer"},
            "total_amount": MONEY,
            "services": {
                "type": "array",
                "items": _object(
                    {
                        "service_id": ID,
                        "customer_id": ID,
                        "invoices": {
                            "type": "array",
                            "items": _object(
                                {
                                    "invoice_id": _nullable(ID),
                                    "invoice_number": _nullable(TEXT),
                                    "period_start": DATE,
                                    "total_amount": MONEY,
                                }
                            ),
                        },
                    }
                ),
            },
            "failures": {
                "type": "array",
                "items": _object({"service_id": ID, "error": TEXT}),
            },
        },
        required=("run_date", "generated", "skipped", "failed", "services"),
    ),
}

_ACTION_BASE = {
    "service_id": {**ID, "description": "A service of the customer in the path."},
    "reason": {"type": "string", "minLength": 1, "description": "Why (required, audited)."},
    "notes": TEXT,
}
ACTION_BODIES = {
    "activate": _object(
        {
            **_ACTION_BASE,
            "activation_date": {
                **DATE,
                "description": "Today (default) or backdated up to 60 days.",
            },
        },
        required=("service_id", "reason"),
        closed=True,
    ),
    "suspend": _object(
        {
            **_ACTION_BASE,
            "suspension_type": {
                "type": "string",
                "enum": [
                    "non_payment",
                    "customer_request",
                    "technical",
                    "fraud",
                    "policy_violation",
                    "other",
                ],
            },
            "skip_billing": {"type": "boolean", "default": True},
        },
        required=("service_id", "reason", "suspension_type"),
        closed=True,
    ),
    "reactivate": _object(_ACTION_BASE, required=("service_id", "reason"), closed=True),
    "cancel": _object(
        {
            **_ACTION_BASE,
            "cancellation_date": {
                **DATE,
                "description": "Today (default) or backdated up to 60 days.",
            },
        },
        required=("service_id", "reason"),
        closed=True,
    ),
    "change": _object(
        {
            **_ACTION_BASE,
            "effective_date": {**DATE, "description": "Today (default) or backdated."},
            "monthly_price": _ref("MoneyInput"),
            "package_name": {"type": "string", "maxLength": 200},
            "billing_date": {"type": "integer", "enum": [1, 5, 25, 30]},
        },
        required=("service_id", "reason"),
        closed=True,
        description="At least one of monthly_price, package_name or billing_date.",
    ),
}
ACTION_SUMMARIES = {
    "activate": (
        "Activate a pending service",
        "Pro-rata invoice for [activation date, next billing date) and the installation "
        "invoice when fees are set. Permission services:activate.",
        "services:activate",
    ),
    "suspend": (
        "Suspend an active service",
        "With skip_billing (default) periods already invoiced ahead are credited in full. "
        "Permission services:suspend.",
        "services:suspend",
    ),
    "reactivate": (
        "Reactivate a suspended service",
        "Pro-rata invoice from today when skipped periods left the service unbilled. "
        "Permission services:activate.",
        "services:activate",
    ),
    "cancel": (
        "Cancel a pending, active or suspended service",
        "Invoiced days from the cancellation date are credited; active days not yet "
        "invoiced get a final pro-rata invoice. Permission services:cancel.",
        "services:cancel",
    ),
    "change": (
        "Change package, price or billing day",
        "The rest of the invoiced period is credited at the old price and charged at the "
        "new one. Permission services:change.",
        "services:change",
    ),
}
ACTION_EXAMPLES = {
    "activate": {
        "service_id": 42,
        "reason": "Installed by Octotel",
        "activation_date": "2026-11-15",
    },
    "suspend": {
        "service_id": 42,
        "reason": "Customer travelling",
        "suspension_type": "customer_request",
        "skip_billing": True,
    },
    "reactivate": {"service_id": 42, "reason": "Customer back home"},
    "cancel": {"service_id": 42, "reason": "Moving abroad", "cancellation_date": "2026-11-16"},
    "change": {
        "service_id": 42,
        "reason": "Upgrade",
        "monthly_price": "999.00",
        "package_name": "Fibre 200",
    },
}

RESPONSES = {
    "BadRequest": {
        "description": "Malformed JSON, or the CSRF token is missing or wrong.",
        "content": _json(
            _ref("Error"), _error_example("bad_request", "The request body is not valid JSON.")
        ),
    },
    "Unauthorized": {
        "description": "Not logged in as staff.",
        "content": _json(
            _ref("Error"),
            _error_example("unauthorized", "Log in as staff to use the admin API."),
        ),
    },
    "Forbidden": {
        "description": "Logged in, but the role lacks the permission.",
        "content": _json(
            _ref("Error"),
            _error_example("forbidden", "This needs the services:suspend permission."),
        ),
    },
    "NotFound": {
        "description": "No such customer, or no such service of that customer.",
        "content": _json(
            _ref("Error"),
            _error_example(
                "not_found",
                "This customer has no such service.",
                {"service_id": "This customer has no such service."},
            ),
        ),
    },
    "Conflict": {
        "description": "The service is not in a state the action starts from.",
        "content": _json(
            _ref("Error"),
            _error_example(
                "conflict", "Cannot suspend a service that is suspended (only from active)."
            ),
        ),
    },
    "ValidationError": {
        "description": "Fields missing or invalid; `fields` names each one.",
        "content": _json(
            _ref("Error"),
            _error_example(
                "validation_error",
                "reason: A reason is required.",
                {"reason": "A reason is required."},
            ),
        ),
    },
}


def _errors(*statuses: str) -> dict:
    names = {
        "400": "BadRequest",
        "401": "Unauthorized",
        "403": "Forbidden",
        "404": "NotFound",
        "409": "Conflict",
        "422": "ValidationError",
    }
    return {status: {"$ref": f"#/components/responses/{names[status]}"} for status in statuses}


CUSTOMER_ID = {
    "name": "customer_id",
    "in": "path",
    "required": True,
    "schema": ID,
}
UNSAFE = [{"sessionCookie": [], "csrfToken": []}]
SAFE = [{"sessionCookie": []}]


def _action_path(action: str) -> dict:
    summary, description, permission = ACTION_SUMMARIES[action]
    return {
        "post": {
            "operationId": f"{action}_service",
            "tags": ["admin: services"],
            "summary": summary,
            "description": description,
            "x-permission": permission,
            "security": UNSAFE,
            "parameters": [CUSTOMER_ID],
            "requestBody": {
                "required": True,
                "content": _json(ACTION_BODIES[action], ACTION_EXAMPLES[action]),
            },
            "responses": {
                "200": {
                    "description": "Done, in one transaction; documents are numbered.",
                    "content": _json(_ref("ActionResult")),
                },
                **_errors("400", "401", "403", "404", "409", "422"),
            },
        }
    }


PATHS = {
    **{
        f"/api/admin/customers/{{customer_id}}/services/{action}": _action_path(action)
        for action in ACTION_BODIES
    },
    "/api/admin/customers/{customer_id}/services/{service_id}/audit": {
        "get": {
            "operationId": "service_audit",
            "tags": ["admin: services"],
            "summary": "A service's action log, newest first",
            "description": "Who (staff name and e-mail, or the system), when, the action, "
            "reason, notes, status change and each changed field. Permission audit:view.",
            "x-permission": "audit:view",
            "security": SAFE,
            "parameters": [
                CUSTOMER_ID,
                {"name": "service_id", "in": "path", "required": True, "schema": ID},
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                },
                {
                    "name": "offset",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 0, "default": 0},
                },
            ],
            "responses": {
                "200": {"description": "One page.", "content": _json(_ref("AuditPage"))},
                **_errors("401", "403", "404", "422"),
            },
        }
    },
    "/api/admin/customers/{customer_id}/billing": {
        "get": {
            "operationId": "customer_billing",
            "tags": ["admin: billing"],
            "summary": "A customer's billing view",
            "description": "Balance with its label, ledger totals, open invoices, recent "
            "payments and services with their next billing date. Permission customers:view.",
            "x-permission": "customers:view",
            "security": SAFE,
            "parameters": [CUSTOMER_ID],
            "responses": {
                "200": {"description": "The view.", "content": _json(_ref("BillingView"))},
                **_errors("401", "403", "404"),
            },
        }
    },
    "/api/admin/billing/generate-invoices-now": {
        "post": {
            "operationId": "generate_invoices_now",
            "tags": ["admin: billing"],
            "summary": "Invoice due periods now",
            "description": "The given services, or every due service when service_ids is "
            "left out (the whole run, committed chunk by chunk). Only periods due by the run "
            "date + 7 days are invoiced, never twice. dry_run previews without numbering. "
            "Permission billing:manage.",
            "x-permission": "billing:manage",
            "security": UNSAFE,
            "requestBody": {
                "required": True,
                "content": _json(
                    _object(
                        {
                            "service_ids": {
                                "type": "array",
                                "items": ID,
                                "minItems": 1,
                                "maxItems": 1000,
                            },
                            "date": {**DATE, "description": "Run date; default today."},
                            "reason": {"type": "string", "minLength": 1},
                            "dry_run": {"type": "boolean", "default": False},
                        },
                        required=("reason",),
                        closed=True,
                    ),
                    {"service_ids": [42, 43], "reason": "Customer asked for the invoice early"},
                ),
            },
            "responses": {
                "200": {
                    "description": "Counts and the invoices issued per service.",
                    "content": _json(_ref("InvoiceRunResult")),
                },
                **_errors("400", "401", "403", "422"),
            },
        }
    },
    **{
        f"/api/webhooks/sms/{gateway}": {
            "post": {
                "operationId": f"{gateway}_delivery_callback",
                "tags": ["webhooks"],
                "summary": summary,
                "description": "Delivery reports from the SMS gateway, authenticated by the "
                "secret in the query string (SMS_CALLBACK_SECRET). Marks messages delivered or "
                "failed; repeated and out-of-order reports change nothing wrongly. A report "
                "about an unknown message is acknowledged (200) so the gateway stops retrying.",
                "security": [],
                "parameters": [
                    {
                        "name": "secret",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "requestBody": {"required": True, "content": _json(body)},
                "responses": {
                    "200": {
                        "description": "Reports received, and how many matched a message.",
                        "content": _json(
                            _object(
                                {
                                    "received": {"type": "integer"},
                                    "matched": {"type": "integer"},
                                },
                                required=("received", "matched"),
                            )
                        ),
                    },
                    **_errors("400", "403"),
                },
            }
        }
        for gateway, summary, body in (
            (
                "clickatell",
                "Clickatell One API message status callback",
                _object({"event": _object({"messageStatusUpdate": {"type": "array"}})}),
            ),
            (
                "bulksms",
                "BulkSMS delivery report webhook",
                {"type": "array", "items": {"type": "object"}},
            ),
        )
    },
    **{
        f"/api/webhooks/netcash/{kind}": {
            "post": {
                "operationId": f"netcash_{kind}_postback",
                "tags": ["webhooks"],
                "summary": summary,
                "description": description
                + " NetCash signs nothing: the postback URL carries our secret in the query "
                "string (NETCASH_WEBHOOK_SECRET), compared in constant time; a wrong or missing "
                "key is refused (403). A postback that matches nothing is answered 200 (so "
                "NetCash stops retrying) and kept in the postback log.",
                "security": [],
                "parameters": [
                    {"name": "key", "in": "query", "required": True, "schema": {"type": "string"}}
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {"type": "object", "additionalProperties": {"type": "string"}}
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "What was done: applied, duplicate, refused or ignored.",
                        "content": _json(
                            _object({"outcome": {"type": "string"}}, required=("outcome",))
                        ),
                    },
                    "403": {"description": "Wrong or missing key."},
                },
            }
        }
        for kind, summary, description in (
            (
                "emandate",
                "NetCash eMandate postback (signed or declined)",
                "A signed mandate becomes active, a declined one failed; repeats change nothing.",
            ),
            (
                "paynow",
                "NetCash Pay Now notify",
                "Pays the Pay Now request only when reference, amount and secret match a pending "
                "request; de-duplicated on RequestTrace.",
            ),
        )
    },
    "/api/openapi.json": {
        "get": {
            "operationId": "openapi_document",
            "tags": ["meta"],
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1.", "content": _json({})}},
        }
    },
}

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {
        "title": "ISP Console API",
        "version": "1.0.0",
        "description": (
            "JSON over HTTPS with the console's session cookie. Unsafe methods send the "
            'page\'s CSRF token (<meta name="csrf-token">) in the X-CSRFToken header. '
            "snake_case keys; money as strings with two decimals; dates YYYY-MM-DD; lists "
            "carry pagination {total, limit, offset, has_more}; errors are "
            '{"error": {"code", "message", "fields"}} with 400/401/403/404/409/422.'
        ),
    },
    "servers": [{"url": "/"}],
    "security": SAFE,
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "responses": RESPONSES,
        "securitySchemes": {
            "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "session"},
            "csrfToken": {"type": "apiKey", "in": "header", "name": "X-CSRFToken"},
        },
    },
}


def openapi_document() -> dict:
    """A copy of the document with the customer API's paths, each described in its module."""
    from app.api.dashboard import AREAS

    document = deepcopy(DOCUMENT)
    for area in AREAS:
        document["paths"].update(deepcopy(area.OPENAPI_PATHS))
        document["components"]["schemas"].update(deepcopy(area.OPENAPI_SCHEMAS))
    return document
