"""A tenant's own URL converters (``app.url_map.converters[...] = Cls``, the
pattern of Flask's and werkzeug's docs), answered by Flask itself and by
muxserver in the same test; and what registration refuses."""

#: The RegexConverter idiom and a list converter, from the docs.
DOCS_CONVERTERS = {"app.py": """
    from flask import Flask, request, url_for
    from werkzeug.routing import BaseConverter, ValidationError

    app = Flask(__name__)

    class RegexConverter(BaseConverter):
        def __init__(self, url_map, *items):
            super().__init__(url_map)
            self.regex = items[0]

    class ListConverter(BaseConverter):
        def to_python(self, value):
            return value.split("+")

        def to_url(self, values):
            return "+".join(super(ListConverter, self).to_url(v) for v in values)

    class EvenConverter(BaseConverter):
        regex = r"\\d+"

        def to_python(self, value):
            if int(value) % 2:
                raise ValidationError()
            return int(value)

        def to_url(self, value):
            return str(value)

    class SlugConverter(BaseConverter):
        regex = "[a-z]+(?:-[a-z]+)*"
        weight = 150

    app.url_map.converters["regex"] = RegexConverter
    app.url_map.converters.update({"list": ListConverter}, even=EvenConverter)
    app.url_map.converters.update(slug=SlugConverter)

    @app.route('/<regex("[a-z]{3}"):code>/')
    def by_code(code):
        return {"code": code, "args": request.view_args, "endpoint": request.endpoint,
                "back": url_for("by_code", code=code)}

    @app.route('/l/<list:items>')
    def listed(items):
        return {"items": items, "back": url_for("listed", items=items),
                "other": url_for("listed", items=["a b", "c/d", "e"])}

    @app.route('/even/<even:n>')
    def even(n):
        return {"n": n, "type": type(n).__name__, "back": url_for("even", n=n + 2)}

    @app.route('/s/<slug:name>')
    def slugged(name):
        return {"name": name, "back": url_for("slugged", name=name)}

    @app.route('/s/<path:rest>')
    def other(rest):
        return {"rest": rest}

    @app.errorhandler(404)
    def missing(e):
        return {"missing": request.path, "endpoint": request.endpoint,
                "args": request.view_args}, 404
    """}


def test_the_regex_converter_idiom_matches_with_the_rules_regex(both):
    pair = both(DOCS_CONVERTERS)
    _, ours = pair.get("/abc/")
    assert ours.json == {"code": "abc", "args": {"code": "abc"}, "endpoint": "by_code",
                         "back": "/t/abc/"}
    pair.get("/abcd/")
    pair.get("/ab1/")
    pair.get("/abc")  # the strict slash redirect, as werkzeug's


def test_to_python_and_to_url_round_trip_through_url_for(both):
    pair = both(DOCS_CONVERTERS)
    _, ours = pair.get("/l/a+b+c")
    assert ours.json["items"] == ["a", "b", "c"] and ours.json["back"] == "/t/l/a+b+c"
    pair.get("/l/one")
    pair.get("/l/a%20b+c")


def test_a_class_level_regex_and_its_weight_rank_the_rule(both):
    pair = both(DOCS_CONVERTERS)
    _, ours = pair.get("/s/hello-world")
    assert ours.json == {"name": "hello-world", "back": "/t/s/hello-world"}
    pair.get("/s/Hello")       # not the slug's regex: the path rule
    pair.get("/s/a/b")


def test_a_validation_error_is_a_404_when_no_other_rule_matches(both):
    pair = both(DOCS_CONVERTERS)
    _, ours = pair.get("/even/4")
    assert ours.json == {"n": 4, "type": "int", "back": "/t/even/6"}
    _, ours = pair.get("/even/3")
    assert ours.status_code == 404 and ours.json["endpoint"] is None
    pair.get("/even/x")


#: A converter defined in one module, registered on an app made in another.
PACKAGE = {
    "shop/__init__.py": """
        from flask import Flask
        from .converters import UpperConverter

        app = Flask(__name__)
        app.url_map.converters['upper'] = UpperConverter

        from . import views  # noqa: E402,F401
        """,
    "shop/converters.py": """
        from werkzeug.routing import PathConverter

        class UpperConverter(PathConverter):
            def to_python(self, value):
                return value.upper()

            def to_url(self, value):
                return value.lower()
        """,
    "shop/views.py": """
        from flask import url_for
        from . import app

        @app.route('/u/<upper:name>')
        def shout(name):
            return {"name": name, "back": url_for("shout", name=name)}
        """,
}


def test_a_converter_imported_from_another_module_and_inherited_regex(both):
    pair = both(PACKAGE, module="shop")
    _, ours = pair.get("/u/a/b")
    assert ours.json == {"name": "A/B", "back": "/t/u/a/b"}


def _errors(tenants, files):
    tenants.add("acme", files)
    return tenants.app().registry.error_list()


def test_a_regex_registration_cannot_read_is_refused_with_file_and_line(tenants):
    errors = _errors(tenants, {"app.py": """
        import os
        from flask import Flask
        from werkzeug.routing import BaseConverter

        app = Flask(__name__)

        class EnvConverter(BaseConverter):
            def __init__(self, url_map):
                super().__init__(url_map)
                self.regex = os.environ.get("PATTERN", "x")

        app.url_map.converters["env"] = EnvConverter

        @app.route('/<env:x>')
        def index(x):
            return x
        """})
    assert any("acme/app.py:11:" in e and "self.regex" in e for e in errors), errors


def test_a_class_regex_that_is_not_a_literal_is_refused(tenants):
    errors = _errors(tenants, {"app.py": """
        from flask import Flask
        from werkzeug.routing import BaseConverter

        app = Flask(__name__)

        class Made(BaseConverter):
            regex = "[a-z]" + str(3)

        app.url_map.converters["made"] = Made
        """})
    assert any("acme/app.py:8:" in e and "regex must be a string literal" in e
               for e in errors), errors


def test_an_unknown_converter_and_a_bad_name_are_refused(tenants):
    errors = _errors(tenants, {"app.py": """
        from flask import Flask
        from werkzeug.routing import BaseConverter

        app = Flask(__name__)

        class C(BaseConverter):
            pass

        app.url_map.converters["not-a-name"] = C
        app.url_map.converters["builtin"] = dict

        @app.route('/<nope:x>')
        def index(x):
            return x
        """})
    assert any("acme/app.py:10:" in e and "identifier" in e for e in errors), errors
    assert any("acme/app.py:11:" in e and "must be a class defined at the top" in e
               for e in errors), errors
    assert any("acme/app.py:14:" in e and "'nope' does not exist" in e for e in errors), errors


def test_a_regex_whose_backtracking_grows_too_fast_is_refused_at_deploy(tenants):
    errors = _errors(tenants, {"app.py": """
        from flask import Flask
        from werkzeug.routing import BaseConverter

        app = Flask(__name__)

        class RegexConverter(BaseConverter):
            def __init__(self, url_map, *items):
                super().__init__(url_map)
                self.regex = items[0]

        app.url_map.converters["regex"] = RegexConverter

        @app.route('/<regex("(a|aa)+$"):x>')
        def catastrophic(x):
            return x

        @app.route('/b/<regex("LONG"):x>')
        def long(x):
            return x
        """.replace("LONG", "a" * 300)})
    assert any("acme/app.py:15:" in e and "repeat only one character" in e
               for e in errors), errors
    assert any("acme/app.py:19:" in e and "at most 256 characters" in e for e in errors), errors
