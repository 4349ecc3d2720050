"""Declarative base, naming convention and the column types every model shares.

Money is exact on both databases (DESIGN §5.1): PostgreSQL stores NUMERIC(12,2); SQLite,
which would store NUMERIC as a float, stores integer cents. Both return `Decimal`.
"""

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, CheckConstraint, DateTime, MetaData, Numeric, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from app import clock

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CENT = Decimal("0.01")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Money(TypeDecorator):
    """A rand amount with cents: NUMERIC(12,2) on PostgreSQL, integer cents on SQLite.

    Only `Decimal` (or int) values already at cent precision are accepted, so rounding
    always happens, half-up, in the domain code that owns the rule, never here. Values
    beyond NUMERIC(12,2) are refused on both databases, not only by PostgreSQL.
    """

    impl = Numeric(12, 2)
    cache_ok = True
    precision_and_scale = (12, 2)  # what `impl` says; `impl` is replaced per dialect

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(*self.precision_and_scale, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, (float, bool)) or not isinstance(value, (Decimal, int)):
            raise TypeError(f"money must be a Decimal, not {type(value).__name__}: {value!r}")
        amount = Decimal(value)
        if not amount.is_finite():
            raise ValueError(f"money must be a finite amount: {amount}")
        precision, scale = self.precision_and_scale
        if abs(amount) >= Decimal(10) ** (precision - scale):
            raise ValueError(f"{amount} does not fit NUMERIC({precision},{scale})")
        if amount != amount.quantize(CENT):
            raise ValueError(f"money must be rounded to the cent before storing: {amount}")
        if dialect.name == "sqlite":
            return int(amount * 100)
        return amount.quantize(CENT)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "sqlite":
            # SUM() over integer cents stays an integer; anything else is a bug upstream.
            return (Decimal(int(value)) / 100).quantize(CENT)
        return Decimal(value).quantize(CENT)

    @property
    def python_type(self):
        return Decimal


class Rate(TypeDecorator):
    """A percentage such as a VAT rate (15.00): NUMERIC(5,2), basis points on SQLite."""

    impl = Numeric(5, 2)
    cache_ok = True
    precision_and_scale = (5, 2)

    def load_dialect_impl(self, dialect):
        return Money.load_dialect_impl(self, dialect)

    def process_bind_param(self, value, dialect):
        return Money.process_bind_param(self, value, dialect)

    def process_result_value(self, value, dialect):
        return Money.process_result_value(self, value, dialect)

    @property
    def python_type(self):
        return Decimal


def rate_range_check(column: str, low: int, high: int, *, name: str) -> tuple:
    """CHECK `low <= column <= high` for a `Rate` column, in each database's storage unit.

    PostgreSQL stores the percentage (15.00); SQLite stores hundredths of a percent (1500),
    so one literal bound cannot serve both: each dialect gets its own constraint, same name.
    """
    condition = "{column} >= {low} AND {column} <= {high}"
    return (
        CheckConstraint(condition.format(column=column, low=low, high=high), name=name).ddl_if(
            dialect="postgresql"
        ),
        CheckConstraint(
            condition.format(column=column, low=low * 100, high=high * 100), name=name
        ).ddl_if(dialect="sqlite"),
    )


class UTCDateTime(TypeDecorator):
    """An instant, stored in UTC; SQLite (which keeps naive text) gets UTC re-attached."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous: store aware UTC instants")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @property
    def python_type(self):
        return datetime


# JSONB on PostgreSQL (indexable), JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class TimestampMixin:
    """`id`, `created_at` and `updated_at` (UTC) on every table (DESIGN §4)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=clock.now, server_default=func.current_timestamp()
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime,
        nullable=False,
        default=clock.now,
        onupdate=clock.now,
        server_default=func.current_timestamp(),
    )


def json_safe(value):
    """A column value as JSON (for audit snapshots): Decimal and dates become strings."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def in_list(column: str, values) -> str:
    """SQL text for a CHECK that `column` is one of `values`."""
    quoted = ", ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in values)
    return f"{column} IN ({quoted})"
