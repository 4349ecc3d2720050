"""Fixtures shared by the database tests."""

import shutil

import pytest
from flask_migrate import upgrade

from app import create_app
from app.extensions import db
from tests.conftest import PG_DATABASE_URL, make_test_config


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory):
    """One SQLite app per module, its database migrated once and kept as a template."""
    path = tmp_path_factory.mktemp("sqlite") / "isp.db"
    template = path.with_name("migrated.db")
    app = create_app(make_test_config(f"sqlite:///{path}"))
    with app.app_context():
        upgrade()
        db.session.remove()
        db.engine.dispose()  # the last connection to close folds the WAL into the file
    shutil.copyfile(path, template)
    yield app, path, template
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def fresh_sqlite(migrated_sqlite):
    """Like `sqlite_app` (a freshly migrated SQLite database) but copied from the module's
    template instead of migrated again: the audit triggers forbid emptying tables."""
    app, path, template = migrated_sqlite
    with app.app_context():
        db.engine.dispose()
        for leftover in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
        shutil.copyfile(template, path)
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def any_db(request):
    """Run the test on PostgreSQL (`app`) and on a freshly migrated SQLite database; the
    chosen app's context is current."""
    return request.getfixturevalue("app" if request.param == "postgresql" else "fresh_sqlite")


@pytest.fixture
def concurrent_app(app):
    """A second app on the PostgreSQL test database whose pool holds a connection for each
    of many threads (the `app` fixture, requested too, empties the tables afterwards)."""
    options = {"pool_size": 60, "max_overflow": 0, "pool_timeout": 60}
    other = create_app(make_test_config(PG_DATABASE_URL, SQLALCHEMY_ENGINE_OPTIONS=options))
    yield other
    with other.app_context():
        db.engine.dispose()
