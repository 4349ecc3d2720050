"""ISP Console: create_app() as a short list of named steps."""

from flask import Flask, render_template

from config import DEV_PAYMENT_DATA_KEY, DEV_SECRET_KEY, INSTANCE_DIR, config_from_environment


def create_app(config_object=None) -> Flask:
    """Build the application: settings, extensions, auth, blueprints, console, commands."""
    app = Flask(__name__, instance_path=str(INSTANCE_DIR), template_folder="../templates")
    app.config.from_object(config_object or config_from_environment())
    refuse_default_secrets(app)
    register_extensions(app)
    register_blueprints(app)
    register_admin(app)
    register_commands(app)
    register_jobs(app)
    register_security_headers(app)
    return app


def refuse_default_secrets(app: Flask) -> None:
    """Production never runs on the published development secrets or without them."""
    if app.config.get("ENV_NAME") != "production":
        return
    problems = []
    if app.config.get("SECRET_KEY") in (None, "", DEV_SECRET_KEY):
        problems.append("SECRET_KEY")
    keys = [k.strip() for k in (app.config.get("PAYMENT_DATA_KEYS") or "").split(",")]
    if not any(keys) or DEV_PAYMENT_DATA_KEY in keys:
        problems.append("PAYMENT_DATA_KEYS")
    if "sqlite" in app.config["SQLALCHEMY_DATABASE_URI"]:
        problems.append("DATABASE_URL (PostgreSQL is required in production)")
    problems.extend(missing_provider_settings(app.config))
    if problems:
        raise RuntimeError(
            "Refusing to start in production with missing or default settings: "
            + ", ".join(problems)
        )


def missing_provider_settings(config) -> list[str]:
    """Provider settings production cannot run without (the sandboxes are never implied)."""
    required = [
        "INTERSTELLIO_IDENTITY_URL",
        "INTERSTELLIO_SUBSCRIBER_URL",
        "INTERSTELLIO_TELEMETRY_URL",
        "INTERSTELLIO_USERNAME",
        "INTERSTELLIO_PASSWORD",
        "NETCASH_WS_URL",
        "NETCASH_DEBIT_ORDER_SERVICE_KEY",
        "NETCASH_ACCOUNT_SERVICE_KEY",
        "NETCASH_PAYNOW_SERVICE_KEY",
        "NETCASH_PAYNOW_URL",
        "NETCASH_WEBHOOK_SECRET",
        "SMS_CALLBACK_SECRET",
        "SMTP_HOST",
    ]
    if config.get("SMS_PROVIDER") == "bulksms":
        required += ["BULKSMS_BASE_URL", "BULKSMS_TOKEN_ID", "BULKSMS_TOKEN_SECRET"]
    else:
        required += ["CLICKATELL_BASE_URL", "CLICKATELL_API_KEY"]
    missing = [name for name in required if not config.get(name)]
    if "127.0.0.1" in (config.get("PUBLIC_BASE_URL") or "127.0.0.1"):
        missing.append("PUBLIC_BASE_URL")
    return missing


def register_extensions(app: Flask) -> None:
    """Bind the extension objects to this app."""
    from app import models  # noqa: F401  (registers every table on the metadata)
    from app.billing.numbering import register_numbering_hooks
    from app.extensions import csrf, db, limiter, migrate
    from app.notifications import register_notification_hooks

    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    register_numbering_hooks()
    register_notification_hooks()
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        INSTANCE_DIR.mkdir(exist_ok=True)
        with app.app_context():
            configure_sqlite(db.engine)


def configure_sqlite(engine) -> None:
    """SQLite enforces foreign keys and uses WAL only when told to, per connection.

    pysqlite also begins transactions itself, only before a write: a SAVEPOINT issued
    before any write then opens the transaction, and releasing it commits, so a later
    rollback would not undo it. SQLAlchemy emits BEGIN instead (its documented recipe),
    so savepoints nest inside the transaction as on PostgreSQL.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN")


def register_blueprints(app: Flask) -> None:
    """Staff login, the JSON API and the public landing page."""
    from app.api import register_api
    from app.api.pay import pay
    from app.api.webhooks_netcash import netcash_webhooks
    from app.api.webhooks_sms import sms_webhooks
    from app.auth import register_auth
    from app.portal import portal

    register_auth(app)
    register_api(app)
    app.register_blueprint(sms_webhooks)
    app.register_blueprint(netcash_webhooks)
    app.register_blueprint(pay)
    app.register_blueprint(portal)

    @app.route("/")
    def index():
        """Landing page with the ways in."""
        return render_template("index.html")


def register_admin(app: Flask) -> None:
    """The Flask-Admin console under /admin."""
    from admin import build_admin

    build_admin(app)


def register_commands(app: Flask) -> None:
    """`flask staff ...`, `flask seed-demo` and the other commands."""
    from app.cli import register_cli

    register_cli(app)


def register_jobs(app: Flask) -> None:
    """Jobs asked for in a transaction go to RQ (or run in-process) once it commits."""
    from jobs.dispatch import register_dispatch

    register_dispatch(app)


def register_security_headers(app: Flask) -> None:
    """Headers every response carries (DESIGN §8)."""

    @app.after_request
    def _headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", "geolocation=(), camera=()")
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response
