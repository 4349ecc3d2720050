"""Settings from the environment (12-factor): Development, Test and Production.

`ISP_CONFIG` picks the class (development by default); `DATABASE_URL` and `REDIS_URL` are
the fixed points that select the database and Redis.
"""

import os
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"

# Well-known development values. Production refuses to start with any of them.
DEV_SECRET_KEY = "dev-secret-key-not-for-production"  # noqa: S105 (refused in production)
DEV_PAYMENT_DATA_KEY = "ZGV2LXBheW1lbnQta2V5LW5vdC1mb3ItcHJvZC11c2U="


def _normalise_database_url(url: str) -> str:
    """Use psycopg 3 for plain postgres URLs (Heroku-style `postgres://` included)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Config:
    """Settings shared by every environment."""

    SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
    SQLALCHEMY_DATABASE_URI = _normalise_database_url(
        os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'isp_console.db'}")
    )
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    REDIS_URL = os.environ.get("REDIS_URL")  # None: jobs run in-process after commit (§6)
    # Prefix of RQ queue names, job ids and scheduler keys, so that several installations
    # (or test runs) can share one Redis. Letters, digits, _ and - only.
    RQ_PREFIX = os.environ.get("RQ_PREFIX", "")
    # Services per invoice-run chunk: one job each, so several workers share a run.
    INVOICE_RUN_CHUNK_SIZE = int(os.environ.get("INVOICE_RUN_CHUNK_SIZE", "200"))
    # Render each new invoice's PDF right after it commits (on a worker, or in-process
    # without Redis). Off: a PDF is rendered when it is first downloaded.
    RENDER_PDFS_INLINE = os.environ.get("RENDER_PDFS_INLINE", "1") == "1"
    PAYMENT_DATA_KEYS = os.environ.get("PAYMENT_DATA_KEYS", DEV_PAYMENT_DATA_KEY)

    # Werkzeug hash method; tests use a cheap scrypt setting.
    PASSWORD_HASH_METHOD = os.environ.get("PASSWORD_HASH_METHOD", "scrypt")

    # Sessions: the cookie may live 24 h (customers); staff sessions end after 8 h (auth.py).
    PERMANENT_SESSION_LIFETIME = timedelta(hours=24)
    STAFF_SESSION_LIFETIME = timedelta(hours=8)
    CUSTOMER_SESSION_LIFETIME = timedelta(hours=24)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "1") == "1"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE

    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    # Failed staff logins allowed per client address and per e-mail address.
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per 15 minutes")
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or (
        os.environ.get("REDIS_URL") or "memory://"
    )
    RATELIMIT_HEADERS_ENABLED = True

    FLASK_ADMIN_SWATCH = None
    BRAND_NAME = os.environ.get("BRAND_NAME", "CircleTel")
    ACCOUNT_NUMBER_PREFIX = "CT"
    BUSINESS_TIMEZONE = "Africa/Johannesburg"

    # The supplier as printed on tax invoices (branding is configuration, DESIGN §5.1).
    SUPPLIER_NAME = os.environ.get("SUPPLIER_NAME", "CircleTel (Pty) Ltd")
    SUPPLIER_ADDRESS = os.environ.get(
        "SUPPLIER_ADDRESS", "West House, 7 Autumn Road, Rivonia, Sandton, 2128"
    )
    SUPPLIER_VAT_NUMBER = os.environ.get("SUPPLIER_VAT_NUMBER", "4870271653")
    SUPPLIER_REGISTRATION_NUMBER = os.environ.get("SUPPLIER_REGISTRATION_NUMBER", "2008/026404/07")
    SUPPLIER_EMAIL = os.environ.get("SUPPLIER_EMAIL", "billing@circletel.co.za")
    SUPPLIER_PHONE = os.environ.get("SUPPLIER_PHONE", "+27 87 087 6305")
    SUPPLIER_BANK_NAME = os.environ.get("SUPPLIER_BANK_NAME", "First National Bank")
    SUPPLIER_BANK_ACCOUNT_NAME = os.environ.get("SUPPLIER_BANK_ACCOUNT_NAME", "CircleTel (Pty) Ltd")
    SUPPLIER_BANK_ACCOUNT_NUMBER = os.environ.get("SUPPLIER_BANK_ACCOUNT_NUMBER", "62812345678")
    SUPPLIER_BANK_BRANCH_CODE = os.environ.get("SUPPLIER_BANK_BRANCH_CODE", "250655")
    SUPPLIER_LOGO_PATH = os.environ.get("SUPPLIER_LOGO_PATH")  # PNG; a text logo when unset
    # Where invoice PDFs are stored (a shared volume when web and workers run on several hosts).
    INVOICE_STORAGE_DIR = os.environ.get("INVOICE_STORAGE_DIR", str(INSTANCE_DIR / "invoices"))

    # --- Outside providers (DESIGN §5.8–§5.10). Unset URLs leave a provider switched off in
    # development and tests; production refuses to start without them (create_app).
    # Where our pages are reached from outside: links in messages, postback/callback URLs.
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
    PROVIDER_TIMEOUT_SECONDS = float(os.environ.get("PROVIDER_TIMEOUT_SECONDS", "10"))
    PROVIDER_RETRIES = int(os.environ.get("PROVIDER_RETRIES", "3"))  # attempts per call
    PROVIDER_BACKOFF_SECONDS = float(os.environ.get("PROVIDER_BACKOFF_SECONDS", "0.5"))
    # Interstellio (NebularStack): usage and subscriber enable/disable.
    INTERSTELLIO_IDENTITY_URL = os.environ.get("INTERSTELLIO_IDENTITY_URL")
    INTERSTELLIO_SUBSCRIBER_URL = os.environ.get("INTERSTELLIO_SUBSCRIBER_URL")
    INTERSTELLIO_TELEMETRY_URL = os.environ.get("INTERSTELLIO_TELEMETRY_URL")
    INTERSTELLIO_DOMAIN = os.environ.get("INTERSTELLIO_DOMAIN", "circletel.co.za")
    INTERSTELLIO_USERNAME = os.environ.get("INTERSTELLIO_USERNAME")
    INTERSTELLIO_PASSWORD = os.environ.get("INTERSTELLIO_PASSWORD")
    # NetCash: NIWS_NIF SOAP (debit orders, eMandates, statements) and Pay Now.
    NETCASH_WS_URL = os.environ.get("NETCASH_WS_URL")
    NETCASH_DEBIT_ORDER_SERVICE_KEY = os.environ.get("NETCASH_DEBIT_ORDER_SERVICE_KEY")
    NETCASH_ACCOUNT_SERVICE_KEY = os.environ.get("NETCASH_ACCOUNT_SERVICE_KEY")
    NETCASH_PAYNOW_SERVICE_KEY = os.environ.get("NETCASH_PAYNOW_SERVICE_KEY")
    NETCASH_PAYNOW_URL = os.environ.get("NETCASH_PAYNOW_URL")
    # NetCash's published default software-vendor key (not a secret).
    NETCASH_SOFTWARE_VENDOR_KEY = os.environ.get(
        "NETCASH_SOFTWARE_VENDOR_KEY", "24ade73c-98cf-47b3-99be-cc7b867b3080"
    )
    # NetCash postbacks are unsigned: this secret rides in the postback URL's query string.
    NETCASH_WEBHOOK_SECRET = os.environ.get("NETCASH_WEBHOOK_SECRET")
    # SMS: Clickatell One API (default) or BulkSMS.
    SMS_PROVIDER = os.environ.get("SMS_PROVIDER", "clickatell")
    CLICKATELL_BASE_URL = os.environ.get("CLICKATELL_BASE_URL")
    CLICKATELL_API_KEY = os.environ.get("CLICKATELL_API_KEY")
    BULKSMS_BASE_URL = os.environ.get("BULKSMS_BASE_URL")
    BULKSMS_TOKEN_ID = os.environ.get("BULKSMS_TOKEN_ID")
    BULKSMS_TOKEN_SECRET = os.environ.get("BULKSMS_TOKEN_SECRET")
    SMS_CALLBACK_SECRET = os.environ.get("SMS_CALLBACK_SECRET")
    # E-mail over SMTP.
    SMTP_HOST = os.environ.get("SMTP_HOST")
    SMTP_PORT = int(os.environ.get("SMTP_PORT", "587"))
    SMTP_USERNAME = os.environ.get("SMTP_USERNAME")
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD")
    SMTP_STARTTLS = os.environ.get("SMTP_STARTTLS", "1") == "1"
    MAIL_FROM = os.environ.get("MAIL_FROM", "CircleTel Billing <billing@circletel.co.za>")
    # The invoice e-mail carries the tax invoice PDF (a simulated year leaves it out).
    INVOICE_EMAIL_ATTACH_PDF = os.environ.get("INVOICE_EMAIL_ATTACH_PDF", "1") == "1"
    # Send queued messages right after the commit that queued them (besides every minute).
    SEND_NOTIFICATIONS_AFTER_COMMIT = True
    # Sandboxes (development only): where they keep their state, and their first port
    # (netcash, interstellio, clickatell, bulksms, smtp on consecutive ports; 0: any free).
    SANDBOX_STATE_DIR = None
    SANDBOX_BASE_PORT = int(os.environ.get("SANDBOX_BASE_PORT", "0"))

    ENV_NAME = "base"


class DevelopmentConfig(Config):
    """`make run`: SQLite under instance/, plain HTTP on loopback."""

    ENV_NAME = "development"
    SANDBOX_STATE_DIR = str(INSTANCE_DIR / "sandbox")
    SANDBOX_BASE_PORT = int(os.environ.get("SANDBOX_BASE_PORT", "5101"))
    SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "0") == "1"
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE


class TestConfig(Config):
    """pytest: cheap hashing, CSRF off unless a test turns it on, errors raised."""

    ENV_NAME = "test"
    TESTING = True
    WTF_CSRF_ENABLED = False
    PASSWORD_HASH_METHOD = "scrypt:1024:8:1"  # noqa: S105 (a hash method, not a secret)
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False
    RATELIMIT_STORAGE_URI = "memory://"
    RENDER_PDFS_INLINE = False  # PDF tests turn it on
    FLASK_ADMIN_RAISE_ON_VIEW_EXCEPTION = True
    FLASK_ADMIN_RAISE_ON_INTEGRITY_ERROR = True
    PROVIDER_BACKOFF_SECONDS = 0.01  # retries are tested; waiting for them is not
    PROVIDER_TIMEOUT_SECONDS = 2.0


class ProductionConfig(Config):
    """gunicorn + PostgreSQL + Redis; refuses default secrets (checked in create_app)."""

    ENV_NAME = "production"


CONFIGS = {
    "development": DevelopmentConfig,
    "test": TestConfig,
    "production": ProductionConfig,
}


def config_from_environment() -> type[Config]:
    """The settings class named by `ISP_CONFIG` (development when unset)."""
    name = os.environ.get("ISP_CONFIG", "development")
    try:
        return CONFIGS[name]
    except KeyError:
        raise RuntimeError(f"ISP_CONFIG must be one of {sorted(CONFIGS)}, not {name!r}") from None
