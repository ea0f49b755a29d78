"""``app.config``'s loaders as Flask 3.1 runs them (real-code trial 5: a
Heroku sample's ``from_object("config.DevelopmentConfig")`` was refused at
deploy, and ``from_prefixed_env`` read nothing of the tenant's ``[env]``)."""

import json

import pytest

CONFIGURED = {
    "config.py": """
        import os

        class Config:
            DEBUG = False
            SECRET_KEY = os.getenv("SECRET_KEY", "default-key")

        class DevelopmentConfig(Config):
            DEBUG = True
            lower_case = "not read"
        """,
    "settings/__init__.py": "",
    "settings/prod.py": "GREETING = 'from a module path'\nignored = 1\n",
    "app.py": """
        import os
        from flask import Flask, jsonify

        app = Flask(__name__)
        app.config.from_object(os.getenv("APP_SETTINGS", "config.DevelopmentConfig"))
        app.config.from_object("settings.prod")
        app.config.from_prefixed_env()

        @app.route("/")
        def index():
            keys = ("DEBUG", "SECRET_KEY", "GREETING", "lower_case", "ignored", "PORT",
                    "NAME", "DB", "QUOTED")
            return jsonify({k: app.config.get(k) for k in keys})
        """,
}

ENV = {"APP_SETTINGS": "config:Config", "SECRET_KEY": "s3",
       "FLASK_PORT": "8080", "FLASK_NAME": "plain text", "FLASK_DB__HOST": "db.local",
       "FLASK_DB__PORT": "5432", "FLASK_QUOTED": '"42"', "OTHER_PORT": "1"}


@pytest.mark.parametrize("env", [{}, ENV], ids=["defaults", "environment"])
def test_from_object_paths_and_prefixed_env_read_as_flask(both, monkeypatch, env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # Flask's side reads the process's environment
    toml = "".join(f"{key} = {json.dumps(value)}\n" for key, value in env.items())
    pair = both({**CONFIGURED, "tenant.toml": "[env]\n" + toml})
    seen = pair.get("/")[1].json
    if env:
        assert seen["SECRET_KEY"] == "s3" and seen["DEBUG"] is False
        assert (seen["PORT"], seen["NAME"], seen["DB"], seen["QUOTED"]) == (
            8080, "plain text", {"HOST": "db.local", "PORT": 5432}, "42")
    else:
        assert seen["SECRET_KEY"] == "default-key" and seen["DEBUG"] is True
    assert seen["GREETING"] == "from a module path" and seen["lower_case"] is None


def test_an_import_path_that_names_nothing_fails_the_load_with_its_line(tenants):
    from werkzeug.test import Client

    tenants.add("acme", {"config.py": "class Config:\n    DEBUG = True\n",
                         "app.py": "from flask import Flask\napp = Flask(__name__)\n"
                                   "app.config.from_object('config.Missing')\n"
                                   "@app.route('/')\ndef index():\n    return 'hi'\n"})
    app = tenants.app()
    answer = Client(app).get("/acme/")
    assert answer.status_code == 500
    logged = "\n".join(e["line"] for e in app.logs.tail("acme"))
    assert 'acme/app.py", line 3' in logged and "Missing" in logged, logged


def test_the_config_loaders_read_only_the_tenants_text(tenants):
    """What the loaders take from tenant values is plain text: an object the
    tenant put in its ``os.environ`` dict is skipped (none of its methods
    run in host code), and a nested ``FLASK_A__B`` writes into what the config
    holds as the tenant's own ``x[k] = v`` would (a host mapping stays
    read-only)."""
    from werkzeug.test import Client

    tenants.add("t", {"tenant.toml": "[env]\nFLASK_API_KEY = 's'\nFLASK_ENV__X = '1'\n",
                      "settings.py": "GREETING = 'hi'\n",
                      "app.py": """
        import os
        import mux
        from flask import Flask

        calls = []

        class Loud:
            def __lt__(self, other):
                calls.append("lt")
                return True

            def __gt__(self, other):
                calls.append("gt")
                return True

            def startswith(self, prefix):
                calls.append("startswith")
                return True

        app = Flask(__name__)

        @app.route("/")
        def index():
            os.environ[Loud()] = "x"
            os.environ["FLASK_LOUD"] = Loud()
            app.config.from_object("settings")
            app.config["ENV"] = mux.env
            try:
                app.config.from_prefixed_env()
            except TypeError as e:
                refused = "TypeError"
            else:
                refused = "written"
            return {"calls": calls, "greeting": app.config.get("GREETING"),
                    "secret": app.config.get("API_KEY"), "nested": refused,
                    "env": dict(mux.env)}
        """})
    answer = Client(tenants.app()).get("/t/").get_json()
    assert answer == {"calls": [], "greeting": "hi", "secret": "s", "nested": "TypeError",
                      "env": {"FLASK_API_KEY": "s", "FLASK_ENV__X": "1"}}, answer


ERRORS = {
    "app.py": """
        import os
        from flask import Flask, request

        app = Flask(__name__)
        for key in ("DEBUG", "TESTING", "PROPAGATE_EXCEPTIONS", "TRAP_HTTP_EXCEPTIONS",
                    "TRAP_BAD_REQUEST_ERRORS"):
            if os.getenv(key):
                app.config[key] = os.getenv(key) == "yes"

        @app.errorhandler(500)
        def oops(e):
            return "handled: " + type(e.original_exception).__name__, 500

        @app.route("/boom")
        def boom():
            raise ValueError("boom")

        @app.route("/form")
        def form():
            return request.form["missing"]

        @app.route("/abort")
        def aborted():
            from flask import abort
            abort(404)
        """,
}


def _errors_app(both, monkeypatch, config):
    for key, value in config.items():
        monkeypatch.setenv(key, value)
    toml = "".join(f'{key} = "{value}"\n' for key, value in config.items())
    return both({**ERRORS, "tenant.toml": "[env]\n" + toml})


@pytest.mark.parametrize("config", [{}, {"DEBUG": "yes", "PROPAGATE_EXCEPTIONS": "no"},
                                    {"TRAP_BAD_REQUEST_ERRORS": "no", "DEBUG": "yes",
                                     "PROPAGATE_EXCEPTIONS": "no"}],
                         ids=["defaults", "debug-not-propagating", "debug-untrapped"])
def test_error_handlers_answer_as_flasks_config_says(both, monkeypatch, config):
    pair = _errors_app(both, monkeypatch, config)
    assert pair.get("/boom")[1].get_data(as_text=True) == "handled: ValueError"
    pair.get("/form")  # 400 (with the key under DEBUG), or trapped: the 500 handler's
    pair.get("/abort")


@pytest.mark.parametrize("config", [{"DEBUG": "yes"}, {"TESTING": "yes"},
                                    {"PROPAGATE_EXCEPTIONS": "yes"}])
def test_an_app_that_propagates_exceptions_skips_its_error_handlers(both, monkeypatch, config):
    # Under Flask the exception reaches the WSGI server (its 500, or the
    # debugger); here the server's 500 answers: the handler is never asked.
    pair = _errors_app(both, monkeypatch, config)
    with pytest.raises(ValueError):
        pair.flask.client.get("/t/boom")
    answer = pair.mux.get("/t/boom")
    assert answer.status_code == 500 and "handled" not in answer.get_data(as_text=True)
    assert "request id" in answer.get_data(as_text=True).lower()


@pytest.mark.parametrize("config", [{"DEBUG": "yes"}, {"TRAP_HTTP_EXCEPTIONS": "yes"},
                                    {"TRAP_BAD_REQUEST_ERRORS": "yes"}])
def test_trapped_http_errors_reach_the_500_handler_as_flask_traps_them(both, monkeypatch,
                                                                        config):
    pair = _errors_app(both, monkeypatch, {**config, "PROPAGATE_EXCEPTIONS": "no"})
    flask_answer, _ = pair.get("/form")
    assert flask_answer.status_code == 500  # trapped: the 500 handler answered
    pair.get("/abort")
