"""The console's base views: access control by permission, reasons, safe columns, in one place.

Every model view of the console derives from `ConsoleModelView`. A view declares the
permission needed to see it and the permission needed to change it; create and edit exist
only where the view lists the fields a form may change, and every such form carries a
required reason that the domain function writes to the audit log with the change.
"""

import csv
import io
from datetime import datetime

from flask import Response, abort, flash, g, has_request_context, redirect, request, url_for
from flask_admin import AdminIndexView, BaseView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla import form as sqla_form
from flask_admin.contrib.sqla.filters import (
    DateTimeBetweenFilter,
    DateTimeGreaterFilter,
    DateTimeSmallerFilter,
    FilterConverter,
    FilterEmpty,
    FilterEqual,
)
from flask_admin.model import filters as model_filters
from flask_admin.model import typefmt
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from wtforms import TextAreaField
from wtforms.validators import DataRequired

from admin.charts import Series, bar_chart
from admin.formatters import format_rand, format_sast, format_sast_iso, neutralise_formula
from app import clock
from app.audit import SENSITIVE_COLUMNS, edit_record
from app.auth import actor_for_request
from app.billing.reports import AGING_BUCKETS, aging_by_customer, finance_dashboard
from app.clock import BUSINESS_TZ
from app.database import Money, Rate
from app.errors import DomainError
from app.extensions import db
from app.models import Customer


def staff_can(permission: str) -> bool:
    return bool(getattr(current_user, "is_staff", False) and current_user.can(permission))


def deny_or_login():
    """Anonymous users go to the login page; logged-in staff without permission get 403."""
    if not getattr(current_user, "is_authenticated", False):
        return redirect(url_for("staff_auth.login", next=request.full_path))
    abort(403)


class UnmaskedErrorsMixin:
    """Run exposed views without Flask-Admin's TypeError retry.

    Flask-Admin calls a view again as `fn(cls=self)` when it raises TypeError, which turns
    any real TypeError into "unexpected keyword argument 'cls'" (ecosystem-notes trap 12).
    """

    def _run_view(self, fn, *args, **kwargs):
        return fn(self, *args, **kwargs)


def require_permission(permission: str) -> None:
    """Refuse the request (403) unless the logged-in staff user holds `permission`."""
    if not staff_can(permission):
        abort(403)


class ConsolePage(UnmaskedErrorsMixin, BaseView):
    """Base of the console's own pages (not model lists): seen with `view_permission`;
    each action on them checks its own permission."""

    view_permission = "customers:view"

    def is_accessible(self):
        return staff_can(self.view_permission)

    def inaccessible_callback(self, name, **kwargs):
        return deny_or_login()


class SecureIndexView(UnmaskedErrorsMixin, AdminIndexView):
    """The console home: the finance dashboard, for any logged-in staff user."""

    def is_accessible(self):
        return getattr(current_user, "is_staff", False)

    def inaccessible_callback(self, name, **kwargs):
        return deny_or_login()

    @expose("/")
    def index(self):
        """Active services, recurring revenue, overdue money, aging and the last job runs."""
        dashboard = finance_dashboard(clock.today())
        return self.render(
            "admin/dashboard.html",
            dashboard=dashboard,
            revenue_chart=bar_chart(
                [f"{month.month:%b %Y}" for month in dashboard.months],
                [
                    Series("Invoiced", "#2c3e50", [m.invoiced for m in dashboard.months]),
                    Series("Collected", "#18bc9c", [m.collected for m in dashboard.months]),
                ],
                title="Invoiced (net of credit notes) and collected per month",
            ),
            aging_chart=bar_chart(
                [bucket.label for bucket, _ in dashboard.aging.rows()],
                [Series("Due", "#e74c3c", [amount for _, amount in dashboard.aging.rows()])],
                title="Receivables by days past due",
                height=220,
            ),
            format_rand=format_rand,
            format_sast=format_sast,
        )

    @expose("/aging.csv")
    def aging_csv(self):
        """The receivables aging per customer as CSV (cells a spreadsheet would run escaped)."""
        today = clock.today()
        return csv_response(
            f"aging-{today.isoformat()}.csv",
            ["Account number", "Customer", "E-mail"]
            + [bucket.label for bucket in AGING_BUCKETS]
            + ["Total due"],
            (
                [line.account_number, line.customer_name, line.email]
                + [str(line.amounts[bucket.key]) for bucket in AGING_BUCKETS]
                + [str(line.total)]
                for line in aging_by_customer(today)
            ),
        )


def csv_response(filename: str, header: list[str], rows) -> Response:
    """A CSV download; every cell goes through `neutralise_formula` (DESIGN §8)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([neutralise_formula(cell) for cell in row])
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def is_sensitive(column) -> bool:
    """Whether a column name (or dotted path) ends in a secret that no page may show."""
    return str(column).rsplit(".", 1)[-1] in SENSITIVE_COLUMNS


def choice_filter(column, values, name: str | None = None) -> FilterEqual:
    """An equality filter offering the column's allowed values as a drop-down."""
    return FilterEqual(
        column, name or column.key.replace("_", " ").capitalize(), options=[(v, v) for v in values]
    )


class _BusinessTimeInput:
    """A time typed into a filter is a wall-clock time in Africa/Johannesburg.

    Instants are stored as aware UTC values, which refuse naive datetimes.
    """

    def clean(self, value):
        cleaned = super().clean(value)
        if isinstance(cleaned, list):
            return [moment.replace(tzinfo=BUSINESS_TZ) for moment in cleaned]
        return cleaned.replace(tzinfo=BUSINESS_TZ)


class BusinessTimeAfterFilter(_BusinessTimeInput, DateTimeGreaterFilter):
    pass


class BusinessTimeBeforeFilter(_BusinessTimeInput, DateTimeSmallerFilter):
    pass


class BusinessTimeBetweenFilter(_BusinessTimeInput, DateTimeBetweenFilter):
    pass


class ConsoleFilterConverter(FilterConverter):
    """Filters for the project's own column types (Flask-Admin matches on type names)."""

    business_time_filters = (
        BusinessTimeAfterFilter,
        BusinessTimeBeforeFilter,
        BusinessTimeBetweenFilter,
        FilterEmpty,
    )

    @model_filters.convert("UTCDateTime")
    def conv_business_time(self, column, name, **kwargs):
        return [flt(column, name, **kwargs) for flt in self.business_time_filters]


def money_formatter(view, context, model, name):
    return format_rand(view._get_field_value(model, name))


def rate_formatter(view, context, model, name):
    value = view._get_field_value(model, name)
    return "" if value is None else f"{value} %"


def customer_link(view, context, model, name):
    """The row's customer as its account number, linking to the customer page."""
    customer_id = getattr(model, "customer_id", None)
    if customer_id is None:
        return ""
    # Found in the identity map: the list prefetches its customers in one query.
    customer = db.session.get(Customer, customer_id)
    label = customer.account_number if customer is not None else f"#{customer_id}"
    return Markup('<a href="{}">{}</a>').format(
        url_for("customers.customer_page", customer_id=customer_id), label
    )


def _sast_type_formatter(view, value, name):
    return format_sast(value)


def _sast_iso_formatter(view, value, name):
    return format_sast_iso(value)


class ConsoleModelView(UnmaskedErrorsMixin, ModelView):
    """Base of every console model view: permissions, reasons, secrets and CSV safety."""

    # Permission to see the view at all, and to create/edit where the view allows it.
    view_permission = "customers:view"
    change_permission: str | None = None
    # Fields the create and edit forms offer; empty means the view cannot create/edit.
    # Money, status and billing-date fields never appear here: domain actions change them.
    create_fields: tuple[str, ...] = ()
    edit_fields: tuple[str, ...] = ()

    # Delete has no place for a reason (ecosystem-notes trap 13): reasoned actions replace it.
    can_delete = False
    can_view_details = True
    can_export = True
    export_types = ["csv"]
    export_max_rows = 50_000
    page_size = 50
    named_filter_urls = True
    filter_converter = ConsoleFilterConverter()
    column_default_sort = ("created_at", True)
    form_extra_fields = {
        "reason": TextAreaField(
            "Reason for this change",
            validators=[DataRequired(message="A reason is required.")],
            description="Recorded in the audit log with the change.",
        )
    }

    def __init__(self, model, *, name=None, category=None, endpoint=None, url=None):
        for fields in (self.create_fields, self.edit_fields):
            if any(is_sensitive(field) for field in fields):
                raise ValueError(f"{type(self).__name__} offers a secret column in a form")
        self.column_searchable_list = [
            column for column in self.column_searchable_list or () if not is_sensitive(column)
        ]
        self.column_filters = [
            flt
            for flt in self.column_filters or ()
            if not is_sensitive(flt if isinstance(flt, str) else getattr(flt, "column", ""))
        ]
        self.column_formatters = {
            **self._amount_formatters(model),
            **(self.column_formatters or {}),
        }
        # CSV cells carry raw values (no HTML links); get_export_value escapes formulas.
        self.column_formatters_export = dict(self.column_formatters_export or {})
        self.column_type_formatters = {datetime: _sast_type_formatter, **typefmt.BASE_FORMATTERS}
        self.column_type_formatters_detail = {
            datetime: _sast_type_formatter,
            **typefmt.DETAIL_FORMATTERS,
        }
        self.column_type_formatters_export = {
            datetime: _sast_iso_formatter,
            **typefmt.EXPORT_FORMATTERS,
        }
        super().__init__(model, db, name=name, category=category, endpoint=endpoint, url=url)

    @staticmethod
    def _amount_formatters(model) -> dict:
        """Rand formatting for every money column of the model (megabytes are not money)."""
        formatters = {}
        for attribute in inspect(model).column_attrs:
            column_type = type(attribute.columns[0].type)
            if column_type is Money:
                formatters[attribute.key] = money_formatter
            elif column_type is Rate:
                formatters[attribute.key] = rate_formatter
        return formatters

    # --- access control -------------------------------------------------------------

    def is_accessible(self):
        return staff_can(self.view_permission)

    def inaccessible_callback(self, name, **kwargs):
        return deny_or_login()

    def _may_change(self) -> bool:
        return (
            self.change_permission is not None
            and has_request_context()
            and staff_can(self.change_permission)
        )

    @property
    def can_create(self) -> bool:
        return bool(self.create_fields) and self._may_change()

    @property
    def can_edit(self) -> bool:
        return bool(self.edit_fields) and self._may_change()

    def _handle_view(self, name, **kwargs):
        if not self.is_accessible():
            return self.inaccessible_callback(name, **kwargs)
        # Flask-Admin answers a forbidden create/edit with a redirect; refuse it plainly.
        if name == "create_view" and not self.can_create:
            abort(403)
        if name in ("edit_view", "ajax_update") and not self.can_edit:
            abort(403)
        if name == "delete_view":
            abort(403)
        return None

    # --- secrets never leave the database -------------------------------------------

    def get_list_columns(self):
        return [(c, label) for c, label in super().get_list_columns() if not is_sensitive(c)]

    def get_details_columns(self):
        return [(c, label) for c, label in super().get_details_columns() if not is_sensitive(c)]

    def get_export_columns(self):
        return [(c, label) for c, label in super().get_export_columns() if not is_sensitive(c)]

    def get_export_value(self, model, name):
        return neutralise_formula(super().get_export_value(model, name))

    def get_list(self, *args, **kwargs):
        count, rows = super().get_list(*args, **kwargs)
        self._prefetch_customers(rows)
        return count, rows

    def _prefetch_customers(self, rows) -> None:
        """Load the customers of a page of rows in one query, for `customer_link`."""
        if not hasattr(self.model, "customer_id"):
            return
        ids = {row.customer_id for row in rows if row.customer_id is not None}
        if ids:
            # Held on `g` so the identity map (which holds weak references) keeps them.
            g.prefetched_customers = db.session.scalars(
                select(Customer).where(Customer.id.in_(ids))
            ).all()

    # --- forms: only the listed fields, plus the required reason --------------------

    def _form_for(self, fields: tuple[str, ...]):
        if not fields:
            return type(f"{self.model.__name__}ReadOnlyForm", (self.form_base_class,), {})
        return sqla_form.get_form(
            self.model,
            self.model_form_converter(self.session, self),
            base_class=self.form_base_class,
            only=(*fields, "reason"),
            field_args=self.form_args,
            extra_fields=self.form_extra_fields,
        )

    def get_create_form(self):
        return self._form_for(self.create_fields)

    def get_edit_form(self):
        return self._form_for(self.edit_fields)

    def create_model(self, form):
        return self._commit_change(
            form,
            lambda actor: self.create_record(
                self._submitted(form, self.create_fields), actor=actor, reason=form.reason.data
            ),
        )

    def update_model(self, form, model):
        record = self._commit_change(
            form,
            lambda actor: self.update_record(
                model, self._submitted(form, self.edit_fields), actor=actor, reason=form.reason.data
            ),
        )
        return record is not None

    def create_record(self, changes: dict, *, actor, reason: str):
        """Create a row through the domain; views with their own domain function override."""
        return edit_record(
            self.model(),
            changes,
            actor=actor,
            reason=reason,
            allowed_fields=self.create_fields,
            customer_id=changes.get("customer_id"),
        )

    def update_record(self, record, changes: dict, *, actor, reason: str):
        """Change a row through the domain; views with their own domain function override."""
        return edit_record(
            record,
            changes,
            actor=actor,
            reason=reason,
            allowed_fields=self.edit_fields,
            customer_id=getattr(record, "customer_id", None),
        )

    @staticmethod
    def _submitted(form, fields: tuple[str, ...]) -> dict:
        return {field: form[field].data for field in fields}

    def _commit_change(self, form, change):
        """Run one domain change and commit it, or roll back and show why on the form."""
        try:
            record = change(actor_for_request())
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            field = getattr(form, error.field, None) if error.field else None
            if field is not None:
                field.errors = [*field.errors, error.message]
            else:
                flash(error.message, "error")
            return None
        except IntegrityError:
            db.session.rollback()
            flash("This conflicts with an existing record; nothing was changed.", "error")
            return None
        return record
