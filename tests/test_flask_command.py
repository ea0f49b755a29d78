"""``muxserver flask TENANT COMMAND [ARGS...]``: a tenant's own click commands,
run by the real command line (a subprocess, locked down like a serving
process), against its /data, with click's output and exit statuses."""

import sqlite3
import subprocess
import sys

from werkzeug.test import Client

from tests.test_real_code import FACTORY_APP

COMMANDS = {
    "app.py": """
        import click, sqlite3, time
        from flask import Flask, Blueprint, current_app, g

        app = Flask(__name__)
        app.config["DATABASE"] = "/data/app.db"
        admin = Blueprint("admin", __name__)

        def get_db():
            if "db" not in g:
                g.db = sqlite3.connect(current_app.config["DATABASE"])
            return g.db

        @app.teardown_appcontext
        def close_db(exc):
            db = g.pop("db", None)
            if db is not None:
                db.close()

        @app.cli.command("add-user")
        @click.argument("name")
        @click.option("--admin", is_flag=True, help="Make an administrator.")
        @click.option("--count", default=1, type=int)
        def add_user(name, admin, count):
            '''Add NAME to the users table.'''
            db = get_db()
            db.execute("CREATE TABLE IF NOT EXISTS user (name TEXT, admin INTEGER)")
            for _ in range(count):
                db.execute("INSERT INTO user VALUES (?, ?)", (name, int(admin)))
            db.commit()
            click.echo(f"added {name} x{count}" + (" (admin)" if admin else ""))
            print("printed \\x1b[31mred")

        @app.cli.command()
        @click.option("--color", type=click.Choice(["red", "blue"]), default="red")
        def greet(color):
            click.echo("greeting in " + color, err=True)

        @app.cli.command("fail")
        def fail():
            raise ValueError("this command failed")

        @app.cli.command("spin")
        def spin():
            while True:
                pass

        @app.cli.command("stop")
        @click.pass_context
        def stop(ctx):
            ctx.exit(3)

        @admin.cli.command("purge")
        def purge():
            get_db().execute("DELETE FROM user")
            get_db().commit()
            click.echo("purged")

        app.register_blueprint(admin)

        @app.route("/users")
        def users():
            return {"users": [r[0] for r in get_db().execute("SELECT name FROM user")]}
        """,
    "tenant.toml": "[limits]\ncpu_ms = 300\n",
}


def flask(tenants, tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-m", "muxserver", "flask", "--tenants-dir", str(tenants.root),
         "--data-dir", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache"), *args],
        capture_output=True, text=True, timeout=60,
    )


def test_a_tenants_commands_run_against_its_data_with_clicks_exit_statuses(tenants, tmp_path):
    tenants.add("acme", COMMANDS)
    listing = flask(tenants, tmp_path, "acme", "--help")
    assert listing.returncode == 0
    assert "add-user" in listing.stdout and "admin" in listing.stdout
    added = flask(tenants, tmp_path, "acme", "add-user", "ann", "--admin", "--count", "2")
    assert added.returncode == 0, added.stderr
    assert added.stdout == "added ann x2 (admin)\nprinted \\x1b[31mred\n"  # no escape sequences
    rows = sqlite3.connect(tmp_path / "data" / "acme" / "app.db").execute("SELECT * FROM user")
    assert rows.fetchall() == [("ann", 1), ("ann", 1)]
    help_text = flask(tenants, tmp_path, "acme", "add-user", "--help")
    assert help_text.returncode == 0 and "Add NAME to the users table." in help_text.stdout
    greet = flask(tenants, tmp_path, "acme", "greet", "--color", "blue")
    assert (greet.returncode, greet.stderr) == (0, "greeting in blue\n")
    usage = flask(tenants, tmp_path, "acme", "greet", "--color", "green")
    assert usage.returncode == 2 and "Invalid value for '--color'" in usage.stderr
    assert flask(tenants, tmp_path, "acme", "no-such").returncode == 2
    failed = flask(tenants, tmp_path, "acme", "fail")
    assert failed.returncode == 1
    assert 'acme/app.py", line' in failed.stderr and "ValueError: this command failed" in failed.stderr
    spun = flask(tenants, tmp_path, "acme", "spin")
    assert spun.returncode == 1 and "CPU time limit" in spun.stderr
    assert flask(tenants, tmp_path, "acme", "stop").returncode == 3
    purged = flask(tenants, tmp_path, "acme", "admin", "purge")
    assert (purged.returncode, purged.stdout) == (0, "purged\n")
    assert flask(tenants, tmp_path, "nobody", "x").returncode == 2


def test_the_flask_tutorials_init_db_creates_the_tables_the_app_uses(tenants, tmp_path):
    tenants.add("fac", FACTORY_APP)
    ran = flask(tenants, tmp_path, "fac", "init-db")
    assert (ran.returncode, ran.stdout) == (0, "Initialized the database.\n")
    tables = sqlite3.connect(tmp_path / "data" / "fac" / "shop.sqlite").execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    assert tables == [("user",)]
    client = Client(tenants.app(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache"))
    assert client.post("/fac/auth/register", data={"username": "ann", "password": "pw"}).status_code == 302
