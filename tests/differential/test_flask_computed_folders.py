"""Folders an app computes from its module's location (``BASE_DIR =
os.path.abspath(os.path.dirname(__file__))``, a factory's own locals, a
folder relative to the working directory), served and read as Flask 3.1
serves and reads them — on Flask itself and on muxserver. The folders'
values differ by construction (the host's path there, ``/app/...`` here):
the views say them relative to the module's folder, and say whether they
agree with ``root_path`` and ``__file__``."""

from tests.differential.harness import HEADERS
from tests.differential.harness import MOUNT

FILE_HEADERS = HEADERS + ("Content-Length",)

# Where each folder is, relative to the module's: what both sides print.
WHERE = """
        def where(folder):
            base = os.path.dirname(os.path.abspath(__file__))
            return "<module>" + folder[len(base):] if folder.startswith(base) else folder
        """

MODULE_BASE_DIR = {
    "app.py": """
        import os
        from flask import Flask, render_template, url_for

        BASE_DIR = os.path.abspath(os.path.dirname(__file__))
        app = Flask(__name__, static_folder=os.path.join(BASE_DIR, "public"),
                    template_folder=os.path.join(BASE_DIR, "views"))
        """ + WHERE + """
        @app.route("/")
        def index():
            return render_template("page.html", css=url_for("static", filename="site.css"))

        @app.route("/folders")
        def folders():
            return repr([where(app.static_folder), app.static_url_path,
                         where(app.template_folder), where(app.root_path),
                         app.root_path == BASE_DIR, where(__file__)])

        @app.route("/send")
        def send():
            return app.send_static_file("site.css")
        """,
    "views/page.html": "<link href='{{ css }}'>\n",
    "public/site.css": "body { margin: 0 }\n",
    "static/site.css": "not the app's static folder\n",
    "templates/page.html": "not the app's template folder\n",
}


def test_folders_joined_to_the_module_folder_are_served_and_read_as_on_flask(both):
    pair = both(MODULE_BASE_DIR)
    # The folder's last name is the url path, as Flask's default.
    assert pair.get("/")[1].text == f"<link href='{MOUNT}/public/site.css'>"
    pair.get("/public/site.css", compare=FILE_HEADERS)
    pair.get("/send", compare=FILE_HEADERS)
    assert pair.get("/static/site.css")[1].status_code == 404
    assert pair.get("/public/missing.css")[1].status_code == 404
    assert pair.get("/folders")[1].text == repr([
        "<module>/public", "/public", "<module>/views", "<module>", True, "<module>/app.py"])


FACTORY_PACKAGE = {
    "backend/__init__.py": """
        import os
        from os.path import abspath, dirname, join
        from flask import Flask, render_template, url_for
        """ + WHERE + """
        def create_app():
            here = dirname(abspath(__file__))
            app = Flask(__name__, static_folder=join(here, "..", "client", "build"),
                        static_url_path="/", template_folder=here + "/../client/build")

            @app.route("/")
            def index():
                return render_template("index.html", js=url_for("static", filename="js/app.js"))

            @app.route("/folders")
            def folders():
                return repr([where(app.static_folder), repr(app.static_url_path),
                             where(app.template_folder), where(app.root_path)])

            return app
        """,
    "client/build/index.html": "<script src='{{ js }}'></script>",
    "client/build/js/app.js": "let x = 1;\n",
}


def test_a_factory_serves_a_build_folder_beside_its_package_at_the_site_root(both):
    """``create_app()``'s own locals, ``from os.path import join``, a ``+``
    and ``static_url_path="/"`` (the site root, below every view)."""
    pair = both(FACTORY_PACKAGE, module="backend")
    assert pair.get("/")[1].text == f"<script src='{MOUNT}/js/app.js'></script>"
    pair.get("/js/app.js", compare=FILE_HEADERS)
    pair.get("/index.html", compare=FILE_HEADERS)
    assert pair.get("/js/missing.js")[1].status_code == 404
    assert pair.get("/folders")[1].text == repr([
        "<module>/../client/build", "''", "<module>/../client/build", "<module>"])


WORKING_DIRECTORY = {
    "app.py": """
        import os
        from flask import Flask, Blueprint, render_template, url_for

        app = Flask(__name__, static_folder=os.path.abspath("assets"),
                    template_folder=os.path.join(os.getcwd(), "pages"))
        admin = Blueprint("admin", __name__, url_prefix="/admin",
                          static_folder=f"{os.path.dirname(__file__)}/admin/files")

        @admin.route("/")
        def panel():
            return url_for("admin.static", filename="admin.css")

        app.register_blueprint(admin)

        @app.route("/")
        def index():
            return render_template("home.html", js=url_for("static", filename="app.js"))
        """,
    "pages/home.html": "<script src='{{ js }}'></script>",
    "assets/app.js": "let y = 2;\n",
    "admin/files/admin.css": "h1 { color: red }\n",
}


def test_folders_relative_to_the_working_directory_are_the_tenants_own(both, tmp_path,
                                                                          monkeypatch):
    """``os.path.abspath("assets")`` and ``os.getcwd()``: the working
    directory is the tenant's folder here, as ``flask run`` in the project's
    folder; and a blueprint's static folder from an f-string of
    ``__file__``."""
    (tmp_path / "flask").mkdir()
    monkeypatch.chdir(tmp_path / "flask")
    pair = both(WORKING_DIRECTORY)
    assert pair.get("/")[1].text == f"<script src='{MOUNT}/assets/app.js'></script>"
    pair.get("/assets/app.js", compare=FILE_HEADERS)
    assert pair.get("/admin/")[1].text == f"{MOUNT}/admin/files/admin.css"
    pair.get("/admin/files/admin.css", compare=FILE_HEADERS)


BLUEPRINT_TEMPLATES = {
    "app.py": """
        from flask import Flask
        from jinja2 import TemplateNotFound
        from shop.views import shop, admin

        app = Flask(__name__)
        app.register_blueprint(shop)
        app.register_blueprint(admin, url_prefix="/admin")

        @app.errorhandler(TemplateNotFound)
        def missing(error):
            return f"no template {error}", 404
        """,
    "shop/__init__.py": "",
    "shop/views.py": """
        from flask import Blueprint, render_template

        shop = Blueprint("shop", __name__, None, None, "pages")  # Flask's positions
        admin = Blueprint("admin", __name__)

        @shop.route("/")
        def index():
            return render_template("cart.html")

        @admin.route("/")
        def panel():
            return render_template("panel.html")
        """,
    "shop/pages/cart.html": "the cart",
    "shop/templates/panel.html": "a blueprint without template_folder has no folder",
}


def test_a_blueprint_has_a_template_folder_only_when_given_one(both):
    """Flask's ``Blueprint`` has no template folder unless given one (by
    keyword or as its fifth argument): its module's ``templates/`` is not
    searched."""
    pair = both(BLUEPRINT_TEMPLATES)
    assert pair.get("/")[1].text == "the cart"
    assert pair.get("/admin/")[1].text == "no template panel.html"


TEMPLATE_ORDER = {
    "app.py": """
        from flask import Flask, render_template
        from parts import early, nested, outer

        app = Flask(__name__, template_folder="site")
        outer.register_blueprint(nested)
        app.register_blueprint(outer)
        app.register_blueprint(early)

        @app.route("/<name>")
        def page(name):
            return render_template(name)

        @app.errorhandler(500)
        def failed(error):
            return f"failed: {error.original_exception!r}", 500
        """,
    "parts.py": """
        from flask import Blueprint

        early = Blueprint("early", __name__, template_folder="early")    # made first
        unused = Blueprint("unused", __name__, template_folder="unused")  # never registered
        nested = Blueprint("nested", __name__, template_folder="nested")
        outer = Blueprint("outer", __name__, template_folder="outer")
        """,
    "site/both.html": "the app's",
    "early/both.html": "the early blueprint's",
    "early/early.html": "early",
    "outer/deep.html": "the outer blueprint's",
    "nested/deep.html": "the nested blueprint's",
    "unused/unused.html": "a blueprint never registered",
}


def test_templates_are_looked_up_in_flasks_order(both):
    """The app's folder first, then its blueprints' in the order registered
    (a nested one after its parent), whatever order they were made in; a
    blueprint never registered has no folder."""
    pair = both(TEMPLATE_ORDER)
    assert pair.get("/both.html")[1].text == "the app's"
    assert pair.get("/early.html")[1].text == "early"
    assert pair.get("/deep.html")[1].text == "the outer blueprint's"
    assert pair.get("/unused.html")[1].text == "failed: TemplateNotFound('unused.html')"
