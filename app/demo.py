"""Demo data for `flask seed-demo`: South African customers with services and orders.

Deterministic: one seeded random generator and an explicit "today" decide everything, so
the same seed and date give the same customers on SQLite and PostgreSQL. Customers are
created through `create_customer` with the business clock pinned to the moment each one
joined (over the three years before "today"), so account numbers run consecutively with
the year of joining, as in a real operator's history. The caller commits once: the demo
data arrives whole or not at all.
"""

import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from random import Random

from sqlalchemy import func, select

from app import clock
from app.accounts import create_customer, derive_account_status
from app.audit import Actor, record_audit, snapshot
from app.auth import create_staff_user, find_staff_by_email
from app.billing.calendar import billing_date_after, billing_date_on_or_after
from app.billing.simulation import paying_habit
from app.debit_orders import activate_mandate
from app.demo_data import (
    BILLING_DATE_WEIGHTS,
    BUSINESS_PARKS,
    CANCELLATION_REASONS,
    CITY_CENTRES,
    COMPANY_SUFFIXES,
    COMPANY_WORDS,
    COMPLEX_NAMES,
    FIBRE_PROVIDERS_BY_PROVINCE,
    FIBRE_PROVIDERS_ELSEWHERE,
    INDUSTRIES,
    INSTALLATION_FEES,
    MOBILE_PREFIXES,
    MOBILE_PROVIDERS,
    NAME_GROUPS,
    PACKAGES,
    PAID_ORDER_STATUSES,
    PENDING_ORDER_STATUSES,
    PERSONAL_EMAIL_DOMAINS,
    PLACES,
    PROVIDER_ORDER_PREFIXES,
    ROUTER_FEES,
    ROUTER_MODELS,
    STREET_NAMES,
    SUSPENSION_REASONS,
    NameGroup,
    Package,
    Place,
)
from app.errors import Conflict
from app.extensions import db
from app.models import (
    ConsumerOrder,
    Customer,
    CustomerService,
    ServiceActionLog,
    ServiceSuspension,
    Setting,
)
from app.payment_methods import (
    DEFAULT_HOLIDAY_OPTION,
    UNIVERSAL_BRANCH_CODES,
    add_debit_order,
)

DEFAULT_SEED = 2026
DEFAULT_CUSTOMER_COUNT = 320
HISTORY_DAYS = 3 * 365
BUSINESS_SHARE = 0.12
NO_SERVICE_SHARE = 0.08
# Foreign surnames in a name group: South African families are not sorted by language.
MIXED_SURNAME_SHARE = 0.12
# Website orders placed without logging in, for the orders backfill (DESIGN §5.11).
UNLINKED_MATCHING_ORDERS = 8
UNMATCHED_ORDERS = 5
SETTINGS_EFFECTIVE_FROM = date(2018, 4, 1)  # VAT went to 15 % on this day
# With a simulated history, a service activated later than `billing_from` is first billed
# from this many days after activation, so no invoice predates its activation.
HISTORY_BILLING_DELAY_DAYS = 7


@dataclass(frozen=True)
class DemoLogin:
    """A demo staff account; the password is published, so demo data only."""

    role: str
    email: str
    password: str
    name: str


DEMO_LOGINS = (
    DemoLogin("admin", "admin@demo.circletel.co.za", "demo-admin-2026", "Lerato Dlamini"),
    DemoLogin("support", "support@demo.circletel.co.za", "demo-support-2026", "Sipho Ndlovu"),
    DemoLogin("finance", "finance@demo.circletel.co.za", "demo-finance-2026", "Anusha Pillay"),
    DemoLogin("viewer", "viewer@demo.circletel.co.za", "demo-viewer-2026", "Johan Botha"),
)


def demo_settings(brand_name: str) -> tuple[tuple[str, str, str], ...]:
    """The operator settings later rules read: (key, value, description)."""
    return (
        ("vat_rate", "15.00", "South African VAT rate in percent"),
        ("payment_terms_days", "7", "Days from invoice date to due date"),
        ("overdue_grace_days", "3", "Days after the due date before an invoice is overdue"),
        ("dunning_suspension_days", "14", "Days past due before automatic suspension"),
        ("auto_suspension_enabled", "true", "Suspend services automatically for non-payment"),
        ("brand_name", brand_name, "Name shown in the console, portal and messages"),
        ("supplier_name", f"{brand_name} (Pty) Ltd", "Supplier name printed on tax invoices"),
        (
            "supplier_address",
            "7 Autumn Street, Rivonia, Sandton, 2128",
            "Supplier address printed on tax invoices",
        ),
        ("supplier_vat_number", "4710263951", "Supplier VAT number printed on tax invoices"),
    )


@dataclass
class DemoSummary:
    """What a seeding run created, for the command's report."""

    customers_by_type: Counter = field(default_factory=Counter)
    customers_by_status: Counter = field(default_factory=Counter)
    customers_without_services: int = 0
    services_by_status: Counter = field(default_factory=Counter)
    services_by_type: Counter = field(default_factory=Counter)
    services_by_billing_date: Counter = field(default_factory=Counter)
    linked_orders: int = 0
    unlinked_orders: int = 0
    settings_added: list[str] = field(default_factory=list)
    logins_created: list[DemoLogin] = field(default_factory=list)
    debit_order_mandates: int = 0

    @property
    def customers(self) -> int:
        return sum(self.customers_by_type.values())

    @property
    def services(self) -> int:
        return sum(self.services_by_status.values())


def customer_count() -> int:
    """How many customers the database holds."""
    return db.session.scalar(select(func.count(Customer.id)))


def demo_data_present() -> bool:
    """Whether seeding would duplicate something: the demo admin or any customer exists."""
    return customer_count() > 0 or find_staff_by_email(DEMO_LOGINS[0].email) is not None


def present_demo_logins() -> list[DemoLogin]:
    """The demo logins whose staff account exists in this database."""
    return [login for login in DEMO_LOGINS if find_staff_by_email(login.email) is not None]


def luhn_check_digit(digits: str) -> str:
    """The Luhn check digit to append to `digits` (the last digit of an SA ID number)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:  # doubled: these positions are odd once the check digit is on
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str(-total % 10)


def sa_id_number(birth_date: date, *, female: bool, citizen: bool, sequence: int) -> str:
    """A 13-digit SA ID: YYMMDD, gender sequence (0000-4999 female), citizenship, 8, check."""
    gender_sequence = sequence % 5000 + (0 if female else 5000)
    body = f"{birth_date:%y%m%d}{gender_sequence:04d}{0 if citizen else 1}8"
    return body + luhn_check_digit(body)


def seed_demo_data(
    *,
    actor: Actor,
    reason: str,
    today: date,
    seed: int = DEFAULT_SEED,
    customers: int = DEFAULT_CUSTOMER_COUNT,
    brand_name: str = "CircleTel",
    progress: Callable[[int], None] | None = None,
    billing_from: date | None = None,
) -> DemoSummary:
    """Create the demo staff, settings, customers, services and orders, then flush.

    Refuses (Conflict) when demo data or any customer already exists, so a re-run never
    duplicates anything. Active services are billed from the first billing date on or
    after `today`; with `billing_from` (a past date) they are billed from there instead
    (or from a week after activation, when later), so that `flask billing simulate` from
    `billing_from` to `today` fills in their invoices and payments.
    """
    if demo_data_present():
        raise Conflict(f"Demo data already present: {customer_count()} customers")
    if customers < 1:
        raise ValueError("at least one customer is needed")
    seeder = _DemoSeeder(
        Random(seed), today=today, actor=actor, reason=reason, billing_from=billing_from
    )
    seeder.create_staff()
    seeder.create_settings(brand_name)
    seeder.create_customers(customers, progress=progress)
    seeder.create_orders()
    seeder.create_debit_orders(seed)
    return seeder.summary


def _slug(text: str) -> str:
    """Lower-case ASCII letters and digits only: "Morné du Plessis" → "mornduplessis"."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(char for char in ascii_text.lower() if char.isalnum())


def _weighted(rng: Random, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


@dataclass
class _Person:
    first_name: str
    last_name: str
    female: bool
    birth_date: date
    place: Place


class _DemoSeeder:
    """Draws every value from one seeded generator, in a fixed order."""

    def __init__(
        self, rng: Random, *, today: date, actor: Actor, reason: str, billing_from: date | None
    ):
        self.rng = rng
        self.today = today
        self.billing_from = billing_from
        self.actor = actor
        self.reason = reason
        self.summary = DemoSummary()
        self.customers: list[Customer] = []
        self.services: dict[Customer, list[CustomerService]] = {}
        self.orders: list[ConsumerOrder] = []
        self.emails: set[str] = set()
        self.phones: set[str] = set()
        self.company_names: set[str] = set()

    # --- staff and settings --------------------------------------------------------------

    def create_staff(self) -> None:
        for login in DEMO_LOGINS:
            if find_staff_by_email(login.email) is not None:
                continue
            create_staff_user(
                email=login.email,
                name=login.name,
                role=login.role,
                password=login.password,
                actor=self.actor,
                reason=self.reason,
            )
            self.summary.logins_created.append(login)

    def create_settings(self, brand_name: str) -> None:
        for key, value, description in demo_settings(brand_name):
            if db.session.scalar(select(Setting.id).where(Setting.key == key).limit(1)):
                continue
            setting = Setting(
                key=key,
                value=value,
                effective_from=SETTINGS_EFFECTIVE_FROM,
                description=description,
            )
            db.session.add(setting)
            db.session.flush()
            record_audit(
                actor=self.actor,
                entity=setting,
                action="create",
                reason=self.reason,
                before=None,
                after=snapshot(setting),
            )
            self.summary.settings_added.append(key)

    # --- customers -----------------------------------------------------------------------

    def create_customers(self, count: int, *, progress: Callable[[int], None] | None) -> None:
        for joined_at in self._join_moments(count):
            # Pinning the clock gives the account number the year of joining and dates the
            # customer and its audit row on that day.
            with clock.frozen_at(joined_at):
                self._create_customer(joined_at)
                db.session.flush()
            if progress is not None:
                progress(1)
        self._store_services()

    def create_debit_orders(self, seed: int) -> None:
        """Customers who pay by debit order (their simulated habit) and have an active
        service get a debit-order method with a signed mandate and auto-pay on, so the
        debit-order run collects them. Bank details come from a generator of their own, so
        the rest of the demo data stays as it was."""
        for customer in self.customers:
            services = self.services[customer]
            if paying_habit(customer.id, seed) != "debit_order" or not any(
                service.status == "active" for service in services
            ):
                continue
            rng = Random(f"demo-bank:{seed}:{customer.id}")
            bank = rng.choice(sorted(UNIVERSAL_BRANCH_CODES))
            signed_on = min(customer.created_at + timedelta(days=2), clock.now())
            with clock.frozen_at(signed_on):
                method = add_debit_order(
                    customer,
                    bank_name=bank,
                    account_number=str(rng.randrange(10**9, 10**11)),
                    account_type=rng.choice(("current", "current", "savings")),
                    holder_name=customer.company_name or customer.full_name,
                    debit_day=services[0].billing_date,
                    holiday_option=DEFAULT_HOLIDAY_OPTION,
                    actor=self.actor,
                    reason=self.reason,
                )
                activate_mandate(
                    method,
                    actor=self.actor,
                    reason=self.reason,
                    reference=f"DEMO-{customer.account_number}",
                )
            self.summary.debit_order_mandates += 1
        db.session.flush()

    def _join_moments(self, count: int) -> list[datetime]:
        """When each customer joined, oldest first; the base grows, so recent is likelier."""
        moments = []
        for _ in range(count):
            age_days = 1 + int((HISTORY_DAYS - 1) * self.rng.random() ** 1.6)
            at = time(self.rng.randint(7, 19), self.rng.randint(0, 59))
            moments.append(clock.business_datetime(self.today - timedelta(days=age_days), at))
        return sorted(moments)

    def _create_customer(self, joined_at: datetime) -> None:
        business = self.rng.random() < BUSINESS_SHARE
        person = self._person()
        fields = {
            "first_name": person.first_name,
            "last_name": person.last_name,
            "phone": self._phone(),
            "account_type": "business" if business else "residential",
            **self._billing_address(person.place, business=business),
        }
        if business:
            trading_name, suffix = self._company_name(person)
            fields.update(
                company_name=f"{trading_name} {suffix}".strip(),
                vat_number=self._vat_number(),
                email=self._business_email(person, trading_name),
            )
        else:
            fields.update(
                email=self._personal_email(person),
                id_number=sa_id_number(
                    person.birth_date,
                    female=person.female,
                    citizen=self.rng.random() < 0.96,
                    sequence=self.rng.randrange(5000),
                ),
            )
        customer = create_customer(actor=self.actor, reason=self.reason, **fields)
        services = self._plan_services(customer, joined_at, business=business)
        self._plan_orders(customer, services, joined_at)
        self.customers.append(customer)
        self.services[customer] = services

    def _person(self) -> _Person:
        group_name = _weighted(
            self.rng, {name: weight for name, (weight, _) in NAME_GROUPS.items()}
        )
        group: NameGroup = NAME_GROUPS[group_name][1]
        female = self.rng.random() < 0.5
        first_name = self.rng.choice(group.female if female else group.male)
        surname_group = group
        if self.rng.random() < MIXED_SURNAME_SHARE:
            surname_group = NAME_GROUPS[self.rng.choice(list(NAME_GROUPS))][1]
        last_name = self.rng.choice(surname_group.surnames)
        age_days = self.rng.randint(21 * 365, 75 * 365)
        province = _weighted(self.rng, group.provinces)
        place = self.rng.choice([p for p in PLACES if p.province == province])
        return _Person(first_name, last_name, female, self.today - timedelta(days=age_days), place)

    def _phone(self) -> str:
        """A unique SA mobile number, typed the way people type them."""
        while True:
            digits = self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**7):07d}"
            if digits not in self.phones:
                self.phones.add(digits)
                break
        style = self.rng.randrange(3)
        if style == 0:
            return f"{digits[:3]} {digits[3:6]} {digits[6:]}"
        if style == 1:
            return digits
        return f"+27 {digits[1:3]} {digits[3:6]} {digits[6:]}"

    def _billing_address(self, place: Place, *, business: bool) -> dict:
        line1 = f"{self.rng.randint(1, 250)} {self.rng.choice(STREET_NAMES)}"
        line2 = None
        if business and self.rng.random() < 0.6:
            line2 = f"Office {self.rng.randint(101, 412)}, {self.rng.choice(BUSINESS_PARKS)}"
        elif not business and self.rng.random() < 0.25:
            line2 = f"Unit {self.rng.randint(1, 48)}, {self.rng.choice(COMPLEX_NAMES)}"
        return {
            "billing_address_line1": line1,
            "billing_address_line2": line2,
            "billing_suburb": place.suburb,
            "billing_city": place.city,
            "billing_province": place.province,
            "billing_postal_code": place.postcode,
        }

    def _unique_email(self, local: str, domain: str) -> str:
        email, suffix = f"{local}@{domain}", 1
        while email in self.emails:
            suffix += 1
            email = f"{local}{suffix}@{domain}"
        self.emails.add(email)
        return email

    def _personal_email(self, person: _Person) -> str:
        first, last = _slug(person.first_name), _slug(person.last_name)
        year = person.birth_date.year
        local = self.rng.choice(
            (
                f"{first}.{last}",
                f"{first}{last}",
                f"{first[0]}{last}",
                f"{first}.{last}{year % 100:02d}",
                f"{last}.{first}",
                f"{first}_{last}",
                f"{first}{year}",
            )
        )
        return self._unique_email(local, _weighted(self.rng, PERSONAL_EMAIL_DOMAINS))

    def _company_name(self, person: _Person) -> tuple[str, str]:
        """A unique trading name ("Du Plessis Attorneys") and its legal suffix."""
        surname = person.last_name[0].upper() + person.last_name[1:]
        while True:
            core = self.rng.choice((surname, self.rng.choice(COMPANY_WORDS)))
            name = f"{core} {self.rng.choice(INDUSTRIES)}"
            suffix = _weighted(self.rng, COMPANY_SUFFIXES)
            if name not in self.company_names:
                self.company_names.add(name)
                return name, suffix

    def _business_email(self, person: _Person, trading_name: str) -> str:
        domain = _slug(trading_name)
        first, last = _slug(person.first_name), _slug(person.last_name)
        local = self.rng.choice(("accounts", "info", "admin", first, f"{first}.{last}"))
        return self._unique_email(local, f"{domain}.co.za")

    def _vat_number(self) -> str:
        """Ten digits starting with 4, the shape of a SARS VAT number (Luhn-checked here)."""
        body = "4" + f"{self.rng.randrange(10**8):08d}"
        return body + luhn_check_digit(body)

    # --- services ------------------------------------------------------------------------

    def _store_services(self) -> None:
        """Insert every planned service, its log entry and suspension, in a few statements.

        Batching them after the customers keeps the seed fast on PostgreSQL, where each
        statement is a round trip; then each customer's status is derived from its services.
        """
        planned = [service for services in self.services.values() for service in services]
        db.session.add_all(planned)
        db.session.flush()
        for service in planned:
            self._log_creation(service)
            if service.status == "suspended":
                self._open_suspension(service)
            self.summary.services_by_status[service.status] += 1
            self.summary.services_by_type[service.service_type] += 1
            self.summary.services_by_billing_date[service.billing_date] += 1
        for customer, services in self.services.items():
            customer.account_status = derive_account_status(s.status for s in services)
            if services:
                customer.billing.preferred_billing_date = services[0].billing_date
            self.summary.customers_by_type[customer.account_type] += 1
            self.summary.customers_by_status[customer.account_status] += 1
            self.summary.customers_without_services += not services
        db.session.flush()

    def _plan_services(
        self, customer: Customer, joined_at: datetime, *, business: bool
    ) -> list[CustomerService]:
        """The customer's services, not yet added to the session."""
        if self.rng.random() < NO_SERVICE_SHARE:
            return []
        counts = {1: 50, 2: 30, 3: 20} if business else {1: 85, 2: 15}
        joined_on = joined_at.astimezone(clock.BUSINESS_TZ).date()
        home = Place(
            customer.billing_suburb,
            customer.billing_city,
            customer.billing_province,
            customer.billing_postal_code,
        )
        services = []
        for index in range(1, _weighted(self.rng, counts) + 1):
            at_home = index == 1 or self.rng.random() < 0.5
            services.append(
                self._service(
                    customer,
                    index=index,
                    joined_on=joined_on,
                    business=business,
                    place=home if at_home else self._branch(home.province),
                    street=_street_address(customer) if at_home else self._street(business),
                    joined_at=joined_at,
                )
            )
        return services

    def _branch(self, province: str) -> Place:
        return self.rng.choice([p for p in PLACES if p.province == province])

    def _street(self, business: bool) -> str:
        street = f"{self.rng.randint(1, 250)} {self.rng.choice(STREET_NAMES)}"
        if business:
            return f"Shop {self.rng.randint(1, 40)}, {street}"
        return street

    def _service(
        self,
        customer: Customer,
        *,
        index: int,
        joined_on: date,
        business: bool,
        place: Place,
        street: str,
        joined_at: datetime,
    ) -> CustomerService:
        package: Package = self.rng.choices(
            PACKAGES,
            weights=[p.business_weight if business else p.residential_weight for p in PACKAGES],
        )[0]
        kind = package.service_type
        provider = self._provider(kind, place.province)
        installation_fee = Decimal(_weighted(self.rng, INSTALLATION_FEES[kind]))
        router_fee = Decimal(_weighted(self.rng, ROUTER_FEES[kind]))
        router_included = router_fee > 0 or self.rng.random() < 0.5
        latitude, longitude = self._coordinates(place.city)
        service = CustomerService(
            customer_id=customer.id,
            service_type=kind,
            package_name=package.name,
            speed_download=package.speed_download,
            speed_upload=package.speed_upload,
            data_cap=package.data_cap,
            installation_address=street,
            installation_suburb=place.suburb,
            installation_city=place.city,
            installation_province=place.province,
            installation_postal_code=place.postcode,
            latitude=latitude,
            longitude=longitude,
            monthly_price=package.monthly_price,
            installation_fee=installation_fee,
            router_fee=router_fee,
            billing_date=_weighted(self.rng, BILLING_DATE_WEIGHTS),
            provider_name=provider,
            provider_order_id=(
                f"{PROVIDER_ORDER_PREFIXES[provider]}{self.rng.randrange(10**6, 10**7)}"
            ),
            router_included=router_included,
            router_model=self.rng.choice(ROUTER_MODELS[kind]) if router_included else None,
            router_serial=(f"SN{self.rng.randrange(16**10):010X}" if router_included else None),
            # Recorded when the customer joined, though stored with the others at the end.
            created_at=joined_at,
            updated_at=joined_at,
        )
        self._set_lifecycle(service, joined_on)
        if service.status != "pending":
            # The Interstellio subscriber id exists once the line is provisioned.
            service.connection_id = f"ct-{customer.account_number[3:].lower()}-{index}"
        return service

    def _provider(self, kind: str, province: str) -> str:
        if kind == "fibre":
            return self.rng.choice(
                FIBRE_PROVIDERS_BY_PROVINCE.get(province, FIBRE_PROVIDERS_ELSEWHERE)
            )
        return self.rng.choice(MOBILE_PROVIDERS[kind])

    def _coordinates(self, city: str) -> tuple[Decimal, Decimal]:
        """A point within about 4 km of the city centre, to 7 decimals."""
        latitude, longitude = CITY_CENTRES[city]
        jitter = Decimal(1).scaleb(-7)
        return (
            Decimal(latitude) + self.rng.randint(-400_000, 400_000) * jitter,
            Decimal(longitude) + self.rng.randint(-400_000, 400_000) * jitter,
        )

    def _set_lifecycle(self, service: CustomerService, joined_on: date) -> None:
        """Status and dates that fit how long ago the customer joined."""
        age = (self.today - joined_on).days
        if age < 3:
            weights = {"pending": 1}
        elif age < 21:
            weights = {"pending": 70, "active": 30}
        elif age < 60:
            weights = {"pending": 25, "active": 65, "suspended": 5, "cancelled": 5}
        else:
            # Installations finish within weeks: long-standing customers have no pending lines.
            weights = {"active": 76, "suspended": 11, "cancelled": 13}
        status = _weighted(self.rng, weights)
        if status == "pending":
            service.status = "pending"
            return
        latest_activation = min(age, 21)
        activation = joined_on + timedelta(days=self.rng.randint(2, latest_activation))
        service.activation_date = activation
        active_days = (self.today - activation).days
        if status != "active" and active_days < 7:
            status = "active"
        service.status = status
        if status == "active":
            service.next_billing_date = billing_date_on_or_after(
                self._first_billed_day(activation), service.billing_date
            )
        elif status == "suspended":
            suspended_on = self.today - timedelta(
                days=self.rng.randint(0, min(active_days - 7, 120))
            )
            service.suspension_date = suspended_on
            # The period containing the suspension was invoiced; later ones are skipped and
            # wait here for reactivation (DESIGN §5.4).
            service.next_billing_date = billing_date_after(suspended_on, service.billing_date)
        else:
            service.cancellation_date = activation + timedelta(
                days=self.rng.randint(7, active_days)
            )
            service.cancellation_reason = self.rng.choice(CANCELLATION_REASONS)

    def _first_billed_day(self, activation: date) -> date:
        """Billing starts today, or at `billing_from` for a history to be simulated; never
        within a week of activation (the run invoices a week ahead of a period)."""
        if self.billing_from is None:
            return self.today
        return max(self.billing_from, activation + timedelta(days=HISTORY_BILLING_DELAY_DAYS))

    def _log_creation(self, service: CustomerService) -> None:
        db.session.add(
            ServiceActionLog(
                service_id=service.id,
                customer_id=service.customer_id,
                actor=self.actor.label,
                staff_user_id=self.actor.staff_user_id,
                action_type="create",
                reason=self.reason,
                previous_status=None,
                new_status=service.status,
                new_data=snapshot(service),
                created_at=service.created_at,
                updated_at=service.created_at,
            )
        )

    def _open_suspension(self, service: CustomerService) -> None:
        suspension_type = _weighted(
            self.rng, {kind: weight for kind, (weight, _) in SUSPENSION_REASONS.items()}
        )
        suspended_at = clock.business_datetime(
            service.suspension_date, time(self.rng.randint(8, 17), self.rng.randint(0, 59))
        )
        db.session.add(
            ServiceSuspension(
                service_id=service.id,
                customer_id=service.customer_id,
                suspension_type=suspension_type,
                reason=self.rng.choice(SUSPENSION_REASONS[suspension_type][1]),
                skip_billing=True,
                suspended_at=suspended_at,
                created_at=suspended_at,
                updated_at=suspended_at,
            )
        )

    # --- orders --------------------------------------------------------------------------

    def _plan_orders(
        self, customer: Customer, services: list[CustomerService], joined_at: datetime
    ) -> None:
        """The website orders that led to this customer's services (numbered at the end)."""
        if not services:
            if self.rng.random() < 0.5:
                package = self.rng.choice(PACKAGES)
                status = self.rng.choice(("pending", "kyc_pending", "kyc_rejected", "cancelled"))
                self._order(package, status, self._ordered_before(joined_at), customer=customer)
            return
        for index, service in enumerate(services):
            if self.rng.random() >= (0.9 if index == 0 else 0.5):
                continue
            status = self._order_status(service.status)
            ordered_at = self._ordered_before(joined_at)
            order = self._order(_package_of(service), status, ordered_at, customer=customer)
            order.installation_address = _full_address(service)
            if status in PAID_ORDER_STATUSES or service.activation_date is not None:
                ordered_on = ordered_at.astimezone(clock.BUSINESS_TZ).date()
                order.payment_date = min(
                    ordered_on + timedelta(days=self.rng.randint(0, 3)), self.today
                )
                # The website takes the first month and the once-off fees at checkout.
                order.total_paid = (
                    service.monthly_price + service.installation_fee + service.router_fee
                )

    def _ordered_before(self, joined_at: datetime) -> datetime:
        return joined_at - timedelta(minutes=self.rng.randint(60, 72 * 60))

    def _order_status(self, service_status: str) -> str:
        if service_status == "pending":
            return self.rng.choice(PENDING_ORDER_STATUSES)
        choices = {
            "active": {"active": 70, "completed": 30},
            "suspended": {"suspended": 50, "active": 50},
            "cancelled": {"completed": 60, "cancelled": 40},
        }[service_status]
        return _weighted(self.rng, choices)

    def _order(
        self,
        package: Package,
        status: str,
        ordered_at: datetime,
        *,
        customer: Customer | None = None,
        contact: tuple[str, str, str, str | None] | None = None,
    ) -> ConsumerOrder:
        """An order by `customer`, or by `contact` (first, last, e-mail, phone) unlinked."""
        if contact is None:
            contact = (
                customer.first_name,
                customer.last_name,
                customer.email,
                _local_phone(customer.phone),
            )
        first_name, last_name, email, phone = contact
        order = ConsumerOrder(
            customer_id=customer.id if customer else None,
            email=email,
            first_name=first_name,
            last_name=last_name,
            phone=phone,
            service_type=package.service_type,
            package_name=package.name,
            package_price=package.monthly_price,
            total_paid=Decimal("0.00"),
            status=status,
            source="website",
            created_at=ordered_at,
            updated_at=ordered_at,
        )
        self.orders.append(order)
        return order

    def create_orders(self) -> None:
        """Add the unlinked orders, then number all orders by date and store them."""
        self._plan_unlinked_orders()
        # Sorting is stable, so orders placed at the same minute keep a fixed order.
        self.orders.sort(key=lambda order: order.created_at)
        for sequence, order in enumerate(self.orders, start=1):
            year = order.created_at.astimezone(clock.BUSINESS_TZ).year
            order.order_number = f"ORD-{year}-{sequence:06d}"
        db.session.add_all(self.orders)
        db.session.flush()
        self.summary.linked_orders = sum(o.customer_id is not None for o in self.orders)
        self.summary.unlinked_orders = sum(o.customer_id is None for o in self.orders)

    def _recent_moment(self) -> datetime:
        day = self.today - timedelta(days=self.rng.randint(1, 30))
        return clock.business_datetime(day, time(self.rng.randint(6, 22), self.rng.randint(0, 59)))

    def _plan_unlinked_orders(self) -> None:
        """Orders placed without logging in: some by customers, typed differently; some not."""
        # The backfill compares e-mails trimmed and case-insensitively: each variant differs.
        variants = (
            str.upper,
            lambda email: email.title(),
            lambda email: f"  {email} ",
            lambda email: email[0].upper() + email[1:] + " ",
        )
        early_statuses = ("pending", "kyc_pending", "kyc_submitted", "payment_method_pending")
        matched = self.rng.sample(
            self.customers, min(UNLINKED_MATCHING_ORDERS, len(self.customers))
        )
        for number, customer in enumerate(matched):
            email = variants[number % len(variants)](customer.email)
            order = self._order(
                self.rng.choice(PACKAGES),
                self.rng.choice(early_statuses),
                self._recent_moment(),
                contact=(
                    customer.first_name,
                    customer.last_name,
                    email,
                    _local_phone(customer.phone),
                ),
            )
            order.notes = "Placed on the website without logging in"
        for number in range(UNMATCHED_ORDERS):
            person = self._person()
            ordered_at = self._recent_moment()
            status = "installation_scheduled" if number == 0 else self.rng.choice(early_statuses)
            package = self.rng.choice(PACKAGES)
            email = self._personal_email(person)
            order = self._order(
                package,
                status,
                ordered_at,
                contact=(person.first_name, person.last_name, email, self._phone()),
            )
            if status in PAID_ORDER_STATUSES:
                order.payment_date = ordered_at.astimezone(clock.BUSINESS_TZ).date()
                order.total_paid = package.monthly_price


def _street_address(customer: Customer) -> str:
    if customer.billing_address_line2:
        return f"{customer.billing_address_line2}, {customer.billing_address_line1}"
    return customer.billing_address_line1


def _full_address(service: CustomerService) -> str:
    """One line, without the suburb where a town is its own suburb ("Benoni, Benoni")."""
    parts = [service.installation_address, service.installation_suburb]
    if service.installation_city != service.installation_suburb:
        parts.append(service.installation_city)
    return ", ".join([*parts, service.installation_postal_code])


def _local_phone(e164: str | None) -> str | None:
    """+27821234567 as a website form receives it: 082 123 4567."""
    if not e164:
        return None
    digits = "0" + e164.removeprefix("+27")
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


def _package_of(service: CustomerService) -> Package:
    return next(p for p in PACKAGES if p.name == service.package_name)
