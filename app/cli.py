"""`flask` commands: thin wrappers that parse options and call domain functions."""

import click
from flask import Flask
from flask.cli import AppGroup

from app.audit import Actor
from app.auth import create_staff_user
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


def register_cli(app: Flask) -> None:
    """Attach the command groups to the app."""
    app.cli.add_command(staff_cli)
