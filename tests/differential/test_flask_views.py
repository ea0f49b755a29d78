"""Flask's class-based views (``flask.views.View``, ``MethodView``) and
``add_url_rule``, on the app and on blueprints, answered by Flask itself and
by muxserver in the same test; the forms registration cannot read are
refused at deploy with file and line."""

from tests.differential.harness import HEADERS

#: Flask's ``Allow`` lists a set (its order changes with the hash seed):
#: compared as a set.
NOT_ALLOW = tuple(h for h in HEADERS if h != "Allow")


def same_allow(pair, method, path, **kwargs):
    """One request to both sides whose ``Allow`` headers name the same methods."""
    theirs, ours = pair.request(method, path, compare=NOT_ALLOW, **kwargs)
    assert set(ours.headers["Allow"].split(", ")) == set(theirs.headers["Allow"].split(", "))
    return theirs, ours


VIEWS_APP = {
    "app.py": """
        import functools
        from flask import Flask, Blueprint, request, url_for
        from flask.views import View, MethodView
        from views import Report

        app = Flask(__name__)
        api = Blueprint("api", __name__, url_prefix="/api")


        def stamp(f):
            @functools.wraps(f)
            def wrapper(**kwargs):
                return f(**kwargs) + " [stamped]"
            return wrapper


        class Hello(View):
            def dispatch_request(self):
                return "hello " + request.method + " " + type(self).__name__


        class Counter(View):
            init_every_request = False
            methods = ["GET", "POST"]

            def __init__(self, start):
                self.count = start

            def dispatch_request(self):
                self.count += 1
                return str(self.count)


        class Fresh(View):
            def __init__(self):
                self.seen = []

            def dispatch_request(self):
                self.seen.append(1)
                return str(len(self.seen))


        class Item(MethodView):
            decorators = [stamp]

            def get(self, item_id):
                return f"item {item_id} at " + url_for("item", item_id=item_id)

            def delete(self, item_id):
                return f"deleted {item_id}"


        class ItemGroup(MethodView):
            def get(self):
                return {"items": [1, 2], "self": url_for(request.endpoint)}

            async def post(self):
                return {"made": request.get_json()}, 201


        class Base(MethodView):
            def get(self):
                return "base get"


        class Child(Base):
            def put(self):
                return "child put " + request.endpoint

            def options(self):
                return "my own options"


        def plain():
            return "plain " + request.endpoint


        item_view = Item.as_view("item")
        app.add_url_rule("/hello", view_func=Hello.as_view("hello"))
        app.add_url_rule("/count", view_func=Counter.as_view("count", 10))
        app.add_url_rule("/fresh", view_func=Fresh.as_view("fresh"))
        app.add_url_rule("/items/<int:item_id>", view_func=item_view)
        app.add_url_rule("/items/", view_func=ItemGroup.as_view("items"))
        app.add_url_rule("/child", view_func=Child.as_view("child"), methods=["GET", "PUT"])
        app.add_url_rule("/kid", view_func=Child.as_view("kid"))
        app.add_url_rule("/plain", "plain_ep", plain)
        app.add_url_rule("/plain2", view_func=plain, methods=["POST"])
        app.add_url_rule("/report/<name>", view_func=Report.as_view("report"))
        api.add_url_rule("/users", view_func=ItemGroup.as_view("users"))
        app.register_blueprint(api)


        @app.route("/links")
        def links():
            return {"hello": url_for("hello"), "item": url_for("item", item_id=5),
                    "users": url_for("api.users"), "plain": url_for("plain_ep"),
                    "report": url_for("report", name="q1"),
                    "class": item_view.view_class.__name__,
                    "methods": sorted(item_view.methods)}
        """,
    "views.py": """
        from flask import views


        class Report(views.MethodView):
            def get(self, name):
                return "report " + name

            def patch(self, name):
                return "patched " + name
        """,
}


def test_class_based_views_and_add_url_rule_answer_as_flask(both):
    pair = both(VIEWS_APP)
    pair.get("/hello")
    same_allow(pair, "POST", "/hello")  # View's methods: GET only -> 405, Allow
    pair.get("/count")
    pair.get("/count")                  # init_every_request = False: one instance
    pair.post("/count")
    pair.get("/fresh")
    pair.get("/fresh")                  # a new instance every request
    pair.get("/items/3")
    pair.request("DELETE", "/items/3")
    same_allow(pair, "POST", "/items/3")
    pair.request("HEAD", "/items/3")
    same_allow(pair, "OPTIONS", "/items/3")
    pair.get("/items/")
    pair.post("/items/", json={"a": 1})
    pair.get("/items", compare=("Location",), body=False)
    pair.get("/child")
    pair.request("PUT", "/child")
    same_allow(pair, "OPTIONS", "/child")  # methods= without OPTIONS: Flask's own answer
    pair.request("OPTIONS", "/kid")     # the class's options()
    pair.request("PUT", "/kid")
    pair.get("/plain")
    same_allow(pair, "GET", "/plain2")
    pair.post("/plain2")
    pair.get("/report/q1")
    pair.request("PATCH", "/report/q1")
    pair.get("/api/users")
    links, _ = pair.get("/links")
    assert links.json["item"] == "/t/items/5"


REFUSED = {
    "computed": ("""
        from flask import Flask
        from flask.views import MethodView

        app = Flask(__name__)

        class ItemAPI(MethodView):
            def get(self):
                return "x"

        def register_api(app, name):
            app.add_url_rule(f"/{name}/", view_func=ItemAPI.as_view(name))

        register_api(app, "items")
        """, 12, "add_url_rule"),
    "unknown base": ("""
        from flask import Flask
        from flask.views import MethodView

        app = Flask(__name__)

        def make_base():
            return MethodView

        Base = make_base()

        class ItemAPI(Base):
            def get(self):
                return "x"

        app.add_url_rule("/items", view_func=ItemAPI.as_view("items"))
        """, 16, "methods"),
    "view from a call": ("""
        from flask import Flask

        app = Flask(__name__)

        def make():
            return lambda: "x"

        app.add_url_rule("/x", view_func=make())
        """, 9, "view_func"),
}


def test_what_registration_cannot_read_is_refused_with_file_and_line(tenants):
    for case, (source, line, word) in REFUSED.items():
        name = case.replace(" ", "-")
        tenants.add(name, {"app.py": source})
    errors = tenants.app().registry.error_list()
    for case, (source, line, word) in REFUSED.items():
        name = case.replace(" ", "-")
        mine = [e for e in errors if e.startswith(f"{name}/")]
        assert any(e.startswith(f"{name}/app.py:{line}:") and word in e for e in mine), (case,
                                                                                         errors)


PROBE = {"app.py": """
    from flask import Flask
    from flask.views import View, MethodView

    app = Flask(__name__)

    class Hello(View):
        def dispatch_request(self):
            return "hi"

    view = Hello.as_view("hello")
    app.add_url_rule("/hello", view_func=view)

    def attempts():
        yield "args", lambda: view._args
        yield "instance", lambda: view._instance
        yield "make", lambda: type(view)(dict, "x", (), {})
        yield "call", lambda: getattr(view, "__call__")
        yield "write", lambda: setattr(view, "view_class", dict)
        yield "host class", lambda: setattr(View, "methods", ["POST"])
        yield "decorators", lambda: View.decorators.append(print)
        yield "subclass hook", lambda: getattr(MethodView, "__init_subclass__")
        yield "as_view of a host class", lambda: View.as_view("v")()

    @app.route("/probe")
    def probe():
        out = {}
        for name, attempt in attempts():
            try:
                attempt()
                out[name] = "open"
            except Exception as exc:
                out[name] = type(exc).__name__
        return out
    """}


def test_a_class_view_hands_tenant_code_no_host_state(tenants):
    """It denies the view object's private state, making one by its type,
    writing to it or to the host classes, and the host's class hooks."""
    from werkzeug.test import Client

    tenants.add("probe", PROBE)
    answer = Client(tenants.app()).get("/probe/probe")
    assert answer.status_code == 200, answer.get_data()
    assert "open" not in answer.json.values(), answer.json
    assert answer.json["as_view of a host class"] == "NotImplementedError"
