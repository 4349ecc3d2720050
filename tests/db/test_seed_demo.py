"""`flask seed-demo`: a realistic South African demo database, deterministic and created once."""

import re
from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal

import phonenumbers
import pytest
from sqlalchemy import func, select

from app import clock
from app.audit import Actor
from app.auth import authenticate_staff
from app.billing.calendar import billing_date_in_month, billing_date_on_or_after
from app.demo import (
    DEFAULT_CUSTOMER_COUNT,
    DEMO_LOGINS,
    demo_data_present,
    luhn_check_digit,
    sa_id_number,
    seed_demo_data,
)
from app.errors import Conflict
from app.extensions import db
from app.models import (
    AuditLog,
    ConsumerOrder,
    Customer,
    CustomerService,
    ServiceActionLog,
    ServiceSuspension,
    Setting,
    StaffUser,
)
from app.models.orders import ORDER_STATUSES
from app.models.services import SUSPENSION_TYPES

SEEDING_DAY = date(2026, 3, 15)
ACCOUNT_NUMBER = re.compile(r"^CT-(\d{4})-(\d{5})$")
PAID_ORDER_STATUSES = {
    "installation_scheduled",
    "installation_in_progress",
    "installation_completed",
    "activation_pending",
    "active",
    "completed",
    "suspended",
}


def seed(customers=DEFAULT_CUSTOMER_COUNT, *, seed_value=2026):
    """Seed as of SEEDING_DAY with the clock pinned, as the command does (flushed only)."""
    with clock.frozen_at(SEEDING_DAY):
        return seed_demo_data(
            actor=Actor.system("seed-demo"),
            reason="Demo data",
            today=SEEDING_DAY,
            seed=seed_value,
            customers=customers,
        )


SMALL_RUN = 80


@pytest.fixture
def seeded(app):
    """The default demo data (320 customers), committed."""
    summary = seed()
    db.session.commit()
    return summary


@pytest.fixture
def small_seed(app):
    """A smaller run, enough for the rules every row must follow; committed."""
    summary = seed(SMALL_RUN)
    db.session.commit()
    return summary


def all_customers():
    return db.session.scalars(select(Customer).order_by(Customer.id)).all()


def all_services():
    return db.session.scalars(select(CustomerService).order_by(CustomerService.id)).all()


def table_counts() -> dict[str, int]:
    models = (
        Customer,
        CustomerService,
        ConsumerOrder,
        ServiceActionLog,
        ServiceSuspension,
        Setting,
        StaffUser,
        AuditLog,
    )
    return {m.__tablename__: db.session.scalar(select(func.count(m.id))) for m in models}


def luhn_valid(number: str) -> bool:
    """The Luhn check as a verifier states it: every second digit from the right doubled."""
    total = 0
    for position, char in enumerate(reversed(number)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def age_in_years(id_number: str) -> int:
    """Age on the seeding day from the YYMMDD birth date (fails on an impossible date)."""
    year, month, day = int(id_number[:2]), int(id_number[2:4]), int(id_number[4:6])
    century = 1900 if 2000 + year > SEEDING_DAY.year else 2000
    born = date(century + year, month, day)
    return (SEEDING_DAY - born).days // 365


def expected_account_status(service_statuses: list[str]) -> str:
    """DESIGN §4: active if any service is active; else suspended; else pending; else
    cancelled; a customer without services is pending."""
    for status in ("active", "suspended", "pending"):
        if status in service_statuses:
            return status
    return "cancelled" if service_statuses else "pending"


# --- pure helpers -----------------------------------------------------------------------


def test_luhn_check_digit_completes_a_known_valid_id_number():
    assert luhn_check_digit("800101500908") == "7"
    assert luhn_valid("8001015009087")


def test_sa_id_number_encodes_birth_date_gender_and_citizenship():
    woman = sa_id_number(date(1991, 7, 23), female=True, citizen=True, sequence=6123)
    man = sa_id_number(date(1964, 2, 29), female=False, citizen=False, sequence=17)
    assert woman[:6] == "910723" and int(woman[6:10]) < 5000 and woman[10] == "0"
    assert man[:6] == "640229" and int(man[6:10]) >= 5000 and man[10] == "1"
    assert luhn_valid(woman) and luhn_valid(man)


# --- the default demo data --------------------------------------------------------------


def test_default_run_creates_300_plus_customers_with_consecutive_account_numbers(seeded):
    customers = all_customers()
    assert len(customers) >= 300 and seeded.customers == len(customers)
    matches = [ACCOUNT_NUMBER.match(c.account_number) for c in customers]
    assert all(matches)
    numbers = [int(m.group(2)) for m in matches]
    assert numbers == list(range(1, len(customers) + 1))
    # Each number carries the (SAST) year in which that customer joined.
    for customer, match in zip(customers, matches, strict=True):
        assert int(match.group(1)) == customer.created_at.astimezone(clock.BUSINESS_TZ).year
    years = [int(m.group(1)) for m in matches]
    assert years == sorted(years) and years[-1] <= SEEDING_DAY.year
    # create_customer made them: each has its audit row by the seeding actor.
    audited = db.session.scalars(
        select(AuditLog.customer_id).where(
            AuditLog.entity_type == "customers",
            AuditLog.action == "create",
            AuditLog.actor == "seed-demo",
            AuditLog.reason == "Demo data",
        )
    ).all()
    assert sorted(audited) == sorted(c.id for c in all_customers())


def test_phones_are_valid_south_african_mobiles_in_e164(small_seed):
    phones = [c.phone for c in all_customers()]
    assert len(set(phones)) == len(phones)
    for phone in phones:
        assert re.fullmatch(r"\+27\d{9}", phone), phone
        parsed = phonenumbers.parse(phone, None)
        assert phonenumbers.is_valid_number(parsed), phone
        assert phonenumbers.region_code_for_number(parsed) == "ZA"
        assert phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE


def test_emails_are_unique_ignoring_case_and_look_like_real_addresses(small_seed):
    emails = [c.email for c in all_customers()]
    assert len({e.lower() for e in emails}) == len(emails)
    assert all(re.fullmatch(r"[a-z0-9._]+@[a-z0-9.-]+\.[a-z]{2,}", e) for e in emails)
    domains = Counter(e.split("@")[1] for e in emails)
    assert domains["gmail.com"] > 0
    assert any(d.endswith(".co.za") for d in domains)


def test_residential_and_business_customers_carry_their_own_identifiers(small_seed):
    customers = all_customers()
    kinds = Counter(c.account_type for c in customers)
    assert kinds["residential"] > kinds["business"] > 0
    for customer in customers:
        if customer.account_type == "business":
            assert customer.company_name
            assert re.fullmatch(r"4\d{9}", customer.vat_number)
        else:
            assert customer.company_name is None and customer.vat_number is None
            assert re.fullmatch(r"\d{13}", customer.id_number) and luhn_valid(customer.id_number)
            assert 18 <= age_in_years(customer.id_number) <= 80
        assert customer.billing_address_line1 and customer.billing_suburb
        assert customer.billing_city and customer.billing_province
        assert re.fullmatch(r"\d{4}", customer.billing_postal_code)


def test_default_run_covers_every_kind_of_service_and_customer(seeded):
    services = all_services()
    assert {s.service_type for s in services} == {"fibre", "lte", "5g", "wireless"}
    assert {s.billing_date for s in services} == {1, 5, 25, 30}
    assert {s.status for s in services} == {"pending", "active", "suspended", "cancelled"}
    assert {s.provider_name for s in services} >= {"Vumatel", "Openserve", "MTN", "Vodacom"}
    assert Counter(s.status for s in services) == seeded.services_by_status
    customers = all_customers()
    assert {c.account_type for c in customers} == {"residential", "business"}
    with_services = {s.customer_id for s in services}
    without = [c for c in customers if c.id not in with_services]
    assert 0.03 * len(customers) < len(without) < 0.15 * len(customers)
    assert seeded.customers_without_services == len(without)
    assert len({c.billing_city for c in customers}) > 15
    # A surname from each of several curated communities shows the mix, not one list.
    surnames = {c.last_name for c in customers}
    for expected_any in (
        {"Dlamini", "Nkosi", "Ndlovu", "Zulu", "Mkhize", "Ngcobo", "Khumalo"},
        {"Naidoo", "Pillay", "Govender", "Moodley", "Reddy", "Chetty"},
        {"van der Merwe", "Botha", "Pretorius", "du Plessis", "Nel", "van Wyk"},
        {"Mokoena", "Mofokeng", "Molefe", "Moloi", "Tau", "Motaung"},
    ):
        assert surnames & expected_any
    assert len(surnames) > 100


def test_service_prices_are_vat_inclusive_rand_amounts_with_some_free_fees(small_seed):
    services = all_services()
    by_package = {(s.package_name, s.monthly_price) for s in services}
    assert ("Fibre 100/100 Mbps", Decimal("799.00")) in by_package
    assert len({name for name, _ in by_package}) == len(by_package)  # one price per package
    assert any(s.installation_fee == 0 for s in services)
    assert any(s.installation_fee > 0 for s in services)
    assert any(s.router_fee == 0 for s in services)
    assert {s.data_cap for s in services} >= {"Unlimited", "60GB"}
    assert all(re.fullmatch(r"\d+Mbps", s.speed_download) for s in services)


def test_service_dates_and_ids_follow_each_status(small_seed):
    services = all_services()
    assert {s.status for s in services} == {"pending", "active", "suspended", "cancelled"}
    open_suspensions = {
        s.service_id: s
        for s in db.session.scalars(
            select(ServiceSuspension).where(ServiceSuspension.reactivated_at.is_(None))
        )
    }
    connection_ids = [s.connection_id for s in services if s.status != "pending"]
    assert len(set(connection_ids)) == len(connection_ids)
    for service in services:
        assert service.installation_address
        if service.status == "pending":
            assert service.activation_date is None and service.connection_id is None
            assert service.next_billing_date is None
            continue
        assert service.connection_id.startswith("ct-")
        assert service.activation_date <= SEEDING_DAY
        if service.status == "active":
            # The first billing date on or after the seeding day (30 in February → the 28th).
            assert service.next_billing_date == billing_date_on_or_after(
                SEEDING_DAY, service.billing_date
            )
            day = service.next_billing_date
            assert day == billing_date_in_month(day.year, day.month, service.billing_date)
            assert service.id not in open_suspensions
        elif service.status == "suspended":
            assert service.activation_date < service.suspension_date <= SEEDING_DAY
            suspension = open_suspensions[service.id]
            assert suspension.skip_billing and suspension.reason
            assert suspension.suspension_type in SUSPENSION_TYPES
            assert suspension.suspended_at.astimezone(clock.BUSINESS_TZ).date() == (
                service.suspension_date
            )
            assert service.next_billing_date > service.suspension_date
        else:
            assert service.activation_date < service.cancellation_date <= SEEDING_DAY
            assert service.cancellation_reason
            assert service.next_billing_date is None
    assert set(open_suspensions) == {s.id for s in services if s.status == "suspended"}


def test_every_service_has_one_creation_entry_in_its_action_log(small_seed):
    entries = db.session.scalars(select(ServiceActionLog)).all()
    assert Counter(e.service_id for e in entries) == {s.id: 1 for s in all_services()}
    for entry in entries:
        assert (entry.action_type, entry.reason, entry.actor) == (
            "create",
            "Demo data",
            "seed-demo",
        )
        assert entry.new_status == entry.new_data["status"]


def test_account_status_is_derived_from_the_services_for_every_customer(seeded):
    statuses = defaultdict(list)
    for service in all_services():
        statuses[service.customer_id].append(service.status)
    customers = all_customers()
    for customer in customers:
        assert customer.account_status == expected_account_status(statuses[customer.id])
    assert {c.account_status for c in customers} == {"active", "suspended", "pending", "cancelled"}


def test_orders_link_customers_and_leave_some_for_the_backfill(small_seed):
    orders = db.session.scalars(select(ConsumerOrder)).all()
    customers_by_email = {c.email.lower(): c for c in all_customers()}
    numbers = [o.order_number for o in orders]
    assert len(set(numbers)) == len(numbers)
    assert all(re.fullmatch(r"ORD-\d{4}-\d{6}", n) for n in numbers)
    linked = [o for o in orders if o.customer_id is not None]
    unlinked = [o for o in orders if o.customer_id is None]
    assert len({o.customer_id for o in linked}) > 0.75 * len(customers_by_email)
    for order in linked:
        assert customers_by_email[order.email.lower()].id == order.customer_id
    matching = [o for o in unlinked if o.email.strip().lower() in customers_by_email]
    assert len(matching) >= 5
    # Only the trimmed, case-insensitive comparison finds them.
    assert all(o.email not in {c.email for c in customers_by_email.values()} for o in matching)
    assert len(unlinked) - len(matching) >= 3
    for order in orders:
        assert order.status in ORDER_STATUSES and order.source == "website"
        assert order.package_name and order.package_price > 0
        if order.status in PAID_ORDER_STATUSES:
            assert order.payment_date is not None and order.total_paid > 0
        if order.payment_date is not None:
            assert order.payment_date <= SEEDING_DAY
    assert {o.status for o in orders} >= {"active", "completed", "cancelled", "kyc_pending"}


def test_settings_later_rules_read_are_present(small_seed):
    settings = {s.key: s for s in db.session.scalars(select(Setting))}
    assert settings["vat_rate"].value == "15.00"
    assert settings["vat_rate"].effective_from == date(2018, 4, 1)
    assert settings["payment_terms_days"].value == "7"
    assert settings["overdue_grace_days"].value == "3"
    assert settings["dunning_suspension_days"].value == "14"
    assert settings["auto_suspension_enabled"].value == "true"
    assert settings["brand_name"].value == "CircleTel"
    assert re.fullmatch(r"4\d{9}", settings["supplier_vat_number"].value)
    assert settings["supplier_name"].value and settings["supplier_address"].value


def test_existing_settings_are_kept(app):
    db.session.add(Setting(key="vat_rate", value="14.00", effective_from=date(1993, 4, 7)))
    db.session.flush()
    summary = seed(customers=5)
    assert "vat_rate" not in summary.settings_added
    rates = db.session.scalars(select(Setting.value).where(Setting.key == "vat_rate")).all()
    assert rates == ["14.00"]


def test_one_demo_login_per_role_works_with_the_published_password(small_seed):
    assert {login.role for login in DEMO_LOGINS} == {"admin", "support", "finance", "viewer"}
    for login in DEMO_LOGINS:
        user = authenticate_staff(login.email, login.password)
        assert user is not None and user.role == login.role


# --- created once, the same every time --------------------------------------------------


def test_second_run_is_refused_and_changes_nothing(small_seed):
    before = table_counts()
    assert demo_data_present()
    with pytest.raises(Conflict, match=f"Demo data already present: {SMALL_RUN} customers"):
        seed()
    assert table_counts() == before


def test_any_existing_customer_counts_as_data_present(app, make_customer):
    assert not demo_data_present()
    make_customer()
    assert demo_data_present()


def fingerprint() -> dict:
    """What two runs must agree on, without database ids (sequences are not rolled back)."""
    accounts = dict(db.session.execute(select(Customer.id, Customer.account_number)).all())
    customers = db.session.execute(
        select(
            Customer.account_number,
            Customer.first_name,
            Customer.last_name,
            Customer.email,
            Customer.phone,
            Customer.id_number,
            Customer.company_name,
            Customer.billing_address_line1,
            Customer.billing_suburb,
            Customer.account_status,
        ).order_by(Customer.account_number)
    ).all()
    services = sorted(
        [
            (
                accounts[s.customer_id],
                s.connection_id,
                s.package_name,
                s.status,
                s.billing_date,
                s.activation_date,
                s.next_billing_date,
                s.latitude,
            )
            for s in all_services()
        ],
        key=str,  # connection_id is None for pending services
    )
    orders = sorted(
        (o.order_number, o.email, o.status, accounts.get(o.customer_id))
        for o in db.session.scalars(select(ConsumerOrder))
    )
    return {"customers": customers, "services": services, "orders": orders}


def test_same_seed_and_day_give_identical_data(app):
    seed(customers=60)
    first = fingerprint()
    db.session.rollback()
    assert not demo_data_present()

    seed(customers=60)
    second = fingerprint()
    db.session.rollback()

    seed(customers=60, seed_value=7)
    other_seed = fingerprint()
    db.session.rollback()

    assert len(first["customers"]) == 60 and first["services"] and first["orders"]
    assert first == second
    assert first["customers"] != other_seed["customers"]


# --- the command ------------------------------------------------------------------------


def assert_logins_printed(output: str) -> None:
    for login in DEMO_LOGINS:
        line = next(line for line in output.splitlines() if login.email in line)
        assert login.role in line and login.password in line


def test_command_seeds_prints_logins_and_second_run_only_reports(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed-demo", "--customers", "30", "--today", "2026-03-15"])
    assert result.exit_code == 0, result.output
    assert "Demo data created" in result.output
    assert "customers: 30" in result.output
    assert_logins_printed(result.output)
    assert db.session.scalar(select(func.count(Customer.id))) == 30
    assert db.session.scalar(select(func.max(Customer.account_number))) == "CT-2026-00030"

    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0, again.output
    assert "Demo data already present: 30 customers" in again.output
    assert_logins_printed(again.output)
    assert db.session.scalar(select(func.count(Customer.id))) == 30


@pytest.mark.sqlite
def test_command_seeds_a_migrated_sqlite_database(sqlite_app):
    runner = sqlite_app.test_cli_runner()
    result = runner.invoke(args=["seed-demo", "--today", "2026-02-27"])
    assert result.exit_code == 0, result.output
    assert_logins_printed(result.output)
    assert db.session.scalar(select(func.count(Customer.id))) == DEFAULT_CUSTOMER_COUNT
    active_on_30th = db.session.scalars(
        select(CustomerService.next_billing_date).where(
            CustomerService.status == "active", CustomerService.billing_date == 30
        )
    ).all()
    assert set(active_on_30th) == {date(2026, 2, 28)}

    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0, again.output
    assert f"Demo data already present: {DEFAULT_CUSTOMER_COUNT} customers" in again.output
