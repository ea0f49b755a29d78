"""Flask's URL processors (``url_value_preprocessor``, ``url_defaults`` and
their blueprint forms) with the internationalised URLs of Flask's docs
(patterns/urlprocessors), and ``app.url_map.is_endpoint_expecting``,
answered by Flask itself and by muxserver in the same test."""

from tests.differential.harness import HEADERS

#: Flask's docs, the app form.
APP_FORM = {"app.py": """
    from flask import Flask, g, request, url_for

    app = Flask(__name__)

    @app.url_defaults
    def add_language_code(endpoint, values):
        if 'lang_code' in values or not g.lang_code:
            return
        if app.url_map.is_endpoint_expecting(endpoint, 'lang_code'):
            values['lang_code'] = g.lang_code

    @app.url_value_preprocessor
    def pull_lang_code(endpoint, values):
        g.lang_code = values.pop('lang_code', None)

    @app.before_request
    def seen():
        g.args_then = dict(request.view_args or {})

    @app.route('/<lang_code>/')
    def index():
        return {"lang": g.lang_code, "about": url_for('about'), "plain": url_for('plain'),
                "other": url_for('about', lang_code='fr'), "view_args": request.view_args,
                "before": g.args_then, "endpoint": request.endpoint,
                "expects": [app.url_map.is_endpoint_expecting('about', 'lang_code'),
                            app.url_map.is_endpoint_expecting('plain', 'lang_code'),
                            app.url_map.is_endpoint_expecting('pages', 'page')]}

    @app.route('/<lang_code>/about')
    def about():
        return "about " + g.lang_code + " " + url_for('index')

    @app.route('/plain')
    def plain():
        return {"lang": g.lang_code, "about": url_for('about', lang_code='de')}

    @app.route('/pages/', defaults={'page': 1})
    @app.route('/pages/<int:page>')
    def pages(page):
        return str(page)

    @app.route('/unknown')
    def unknown():
        return str(app.url_map.is_endpoint_expecting('nope', 'x'))
    """}


def test_the_docs_app_form_pulls_and_adds_the_language_code(both):
    pair = both(APP_FORM)
    index, _ = pair.get("/de/")
    assert index.json["about"] == "/t/de/about" and index.json["view_args"] == {}
    pair.get("/de/about")
    pair.get("/plain")
    pair.get("/pages/")
    pair.get("/unknown", compare=(), body=False)   # werkzeug's KeyError: a 500 on both
    # An unknown URL: the preprocessor gets (None, None), and None.pop fails
    # on Flask too.
    pair.get("/a/b/c", compare=(), body=False)


#: Flask's docs, the blueprint form; and a blueprint's app-wide processors.
BLUEPRINT_FORM = {"app.py": """
    from flask import Flask, Blueprint, g, request, url_for

    app = Flask(__name__)
    bp = Blueprint('frontend', __name__, url_prefix='/<lang_code>')
    tools = Blueprint('tools', __name__)

    @bp.url_defaults
    def add_language_code(endpoint, values):
        values.setdefault('lang_code', g.lang_code)

    @bp.url_value_preprocessor
    def pull_lang_code(endpoint, values):
        g.lang_code = values.pop('lang_code')

    @tools.app_url_value_preprocessor
    def note(endpoint, values):
        g.noted = [endpoint, sorted(values or {})]

    @tools.app_url_defaults
    def tag(endpoint, values):
        if endpoint == 'plain':
            values.setdefault('ref', 'home')

    @bp.route('/')
    def index():
        return {"lang": g.lang_code, "noted": g.noted, "about": url_for('.about'),
                "full": url_for('frontend.about', lang_code='fr'), "plain": url_for('plain'),
                "tool": url_for('tools.tool'), "endpoint": request.endpoint}

    @bp.route('/about')
    def about():
        return "about " + g.lang_code + " " + url_for('.index')

    @app.route('/plain')
    def plain():
        return {"noted": g.noted, "self": url_for('plain', x=1)}

    @tools.route('/tool')
    def tool():
        return {"noted": g.noted}

    app.register_blueprint(bp)
    app.register_blueprint(tools)
    """}


def test_the_docs_blueprint_form_and_app_wide_processors(both):
    pair = both(BLUEPRINT_FORM)
    index, _ = pair.get("/en/")
    assert index.json["about"] == "/t/en/about" and index.json["plain"] == "/t/plain?ref=home"
    pair.get("/en/about")
    pair.get("/plain")
    pair.get("/tool")
    pair.get("/x/y/z", compare=HEADERS)


def test_url_map_names_it_does_not_offer_are_refused_with_file_and_line(tenants):
    tenants.add("acme", {"app.py": """
        from flask import Flask

        app = Flask(__name__)
        app.url_map.default_subdomain = "www"

        @app.route("/")
        def index():
            return "hi"
        """})
    errors = tenants.app().registry.error_list()
    assert len(errors) == 1 and "acme/app.py:5:" in errors[0], errors
    assert "url_map.default_subdomain is not offered here" in errors[0]


#: Flask's automatic OPTIONS answer goes through the matched rule's URL
#: value preprocessors and hooks, with its endpoint and view arguments.
AUTOMATIC_OPTIONS = {"app.py": """
    from flask import Flask, Blueprint, g, request

    app = Flask(__name__)
    bp = Blueprint('items', __name__, url_prefix='/<lang>')

    @app.url_value_preprocessor
    def seen(endpoint, values):
        g.seen = [endpoint, dict(values or {})]

    @bp.url_value_preprocessor
    def pull(endpoint, values):
        g.lang = values.pop('lang')

    @bp.before_request
    def in_blueprint():
        g.bp = True

    @app.after_request
    def show(response):
        response.headers['X-Custom'] = repr([
            g.get('seen'), g.get('lang'), g.get('bp'), request.endpoint, request.view_args])
        return response

    @app.route('/plain/<int:n>', methods=['GET', 'POST'])
    def plain(n):
        return str(n)

    @app.route('/fixed')
    def fixed():
        return 'fixed'

    @bp.route('/item/<name>')
    def item(name):
        return name

    @bp.post('/item/<name>')
    def change(name):
        return name

    app.register_blueprint(bp)
    """}


def test_automatic_options_runs_the_matched_routes_processors_and_hooks(both):
    pair = both(AUTOMATIC_OPTIONS)
    # Flask lists Allow in a set's order (the hash seed's): compared as sets.
    compare = tuple(name for name in HEADERS if name != "Allow")
    for path in ("/plain/3", "/de/item/x", "/fixed", "/nowhere"):
        theirs, ours = pair.request("OPTIONS", path, compare=compare)
        assert set(ours.headers.get("Allow", "").split(", ")) == \
            set(theirs.headers.get("Allow", "").split(", "))
        if path == "/plain/3":
            assert "'plain', {'n': 3}" in theirs.headers["X-Custom"]
        elif path == "/de/item/x":
            assert "'de', True, 'items.item'" in theirs.headers["X-Custom"]
