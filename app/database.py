"""Declarative base, naming convention and the column types every model shares.

Money is exact on both databases (DESIGN §5.1): PostgreSQL stores NUMERIC(12,2); SQLite,
which would store NUMERIC as a float, stores integer cents. Both return `Decimal`.
"""

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, DateTime, MetaData, Numeric, func
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
    always happens, half-up, in the domain code that owns the rule, never here.
    """

    impl = Numeric(12, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(12, 2, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, float) or not isinstance(value, (Decimal, int)):
            raise TypeError(f"money must be a Decimal, not {type(value).__name__}: {value!r}")
        amount = Decimal(value)
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

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(5, 2, asdecimal=True))

    def process_bind_param(self, value, dialect):
        return Money.process_bind_param(self, value, dialect)

    def process_result_value(self, value, dialect):
        return Money.process_result_value(self, value, dialect)

    @property
    def python_type(self):
        return Decimal


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
