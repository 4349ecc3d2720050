"""`flask` commands: thin wrappers that parse options and call domain functions."""

import time
from contextlib import nullcontext

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from app import clock
from app.audit import Actor
from app.auth import create_staff_user
from app.demo import (
    DEFAULT_CUSTOMER_COUNT,
    DEFAULT_SEED,
    DemoLogin,
    DemoSummary,
    customer_count,
    demo_data_present,
    present_demo_logins,
    seed_demo_data,
)
from app.errors import DomainError
from app.extensions import db
from app.models.staff import STAFF_ROLES

staff_cli = AppGroup("staff", help="Manage staff accounts of the admin console.")


def _fail(error: DomainError) -> None:
    field = f" ({error.field})" if error.field else ""
    raise click.ClickException(f"{error.message}{field}")


@staff_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(STAFF_ROLES))
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_staff_command(email, name, role, password):
    """Create a staff user who can log in at /admin/login."""
    try:
        user = create_staff_user(
            email=email,
            name=name,
            role=role,
            password=password,
            actor=Actor.system("cli"),
            reason="Created with flask staff create",
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        _fail(error)
    click.echo(f"Created {user.role} {user.email} (id {user.id}).")


@click.command("seed-demo")
@click.option(
    "--customers",
    default=DEFAULT_CUSTOMER_COUNT,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many customers to create.",
)
@click.option(
    "--seed", default=DEFAULT_SEED, show_default=True, help="Random seed: same seed, same data."
)
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Business date to seed as (pins the clock); default: the clock's today.",
)
@with_appcontext
def seed_demo_command(customers, seed, today):
    """Fill an empty database with demo customers, services, orders and staff logins."""
    if demo_data_present():
        click.echo(f"Demo data already present: {customer_count()} customers")
        _echo_logins(present_demo_logins())
        return
    pinned = clock.frozen_at(today.date()) if today else nullcontext()
    started = time.monotonic()
    with pinned:
        seeding_day = clock.today()
        click.echo(f"Seeding {customers} demo customers as of {seeding_day} (seed {seed})...")
        try:
            with click.progressbar(length=customers, label="Customers") as bar:
                summary = seed_demo_data(
                    actor=Actor.system("seed-demo"),
                    reason="Demo data",
                    today=seeding_day,
                    seed=seed,
                    customers=customers,
                    brand_name=current_app.config["BRAND_NAME"],
                    progress=bar.update,
                )
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            _fail(error)
        except BaseException:
            db.session.rollback()
            raise
    _echo_summary(summary, seconds=time.monotonic() - started)
    _echo_logins(present_demo_logins())


def _counts(counter) -> str:
    return ", ".join(f"{key}: {count}" for key, count in sorted(counter.items()))


def _echo_summary(summary: DemoSummary, *, seconds: float) -> None:
    click.echo(f"Demo data created in {seconds:.1f} s:")
    click.echo(f"  customers: {summary.customers} ({_counts(summary.customers_by_type)})")
    click.echo(f"    account status: {_counts(summary.customers_by_status)}")
    click.echo(f"    without services: {summary.customers_without_services}")
    click.echo(f"  services: {summary.services}")
    click.echo(f"    by status: {_counts(summary.services_by_status)}")
    click.echo(f"    by type: {_counts(summary.services_by_type)}")
    click.echo(f"    by billing date: {_counts(summary.services_by_billing_date)}")
    click.echo(
        f"  orders: {summary.linked_orders + summary.unlinked_orders}"
        f" ({summary.unlinked_orders} not linked to a customer)"
    )
    click.echo(f"  settings added: {', '.join(summary.settings_added) or 'none'}")


def _echo_logins(logins: list[DemoLogin]) -> None:
    if not logins:
        click.echo("No demo staff logins exist in this database.")
        return
    click.echo("Demo logins (console at /admin/login):")
    for login in logins:
        click.echo(f"  {login.role:<8} {login.email:<32} password: {login.password}")


def register_cli(app: Flask) -> None:
    """Attach the command groups to the app."""
    app.cli.add_command(staff_cli)
    app.cli.add_command(seed_demo_command)
