"""Flask's "Tell Flask it is Behind a Proxy": ``app.wsgi_app =
ProxyFix(app.wsgi_app, ...)``, answered by Flask itself and by muxserver in
the same test — the request's address, scheme, host and external URLs follow
the ``X-Forwarded-*`` headers with werkzeug's rules and the app's counts."""

from werkzeug.test import Client

#: Flask's docs' recipe, and a view showing what it changes.
PROXIED = {"app.py": """
    from flask import Flask, redirect, request, url_for
    from werkzeug.middleware.proxy_fix import ProxyFix

    app = Flask(__name__)
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_prefix=1)

    @app.route("/seen")
    def seen():
        return {"remote_addr": request.remote_addr, "scheme": request.scheme,
                "host": request.host, "url_root": request.url_root,
                "is_secure": request.is_secure, "host_header": request.headers.get("Host"),
                "external": url_for("seen", _external=True), "path": url_for("seen"),
                "counts": [app.wsgi_app.x_for, app.wsgi_app.x_proto, app.wsgi_app.x_host,
                           app.wsgi_app.x_port, app.wsgi_app.x_prefix]}

    @app.route("/away")
    def away():
        return redirect(url_for("seen", _external=True))

    @app.route("/root")
    def root():
        return request.script_root
    """}

#: What a proxy sends: two hops, the last one trusted (x_for=1...).
FORWARDED = {"X-Forwarded-For": "203.0.113.9, 198.51.100.7",
             "X-Forwarded-Proto": "http, https",
             "X-Forwarded-Host": "evil.test, shop.example.com"}


def test_forwarded_headers_set_the_address_scheme_host_and_external_urls(both):
    pair = both(PROXIED)
    flask, mux = pair.get("/seen", headers=FORWARDED)
    assert mux.json["remote_addr"] == "198.51.100.7"
    assert mux.json["external"] == "https://shop.example.com/t/seen"
    assert mux.json["host_header"] == "shop.example.com"
    assert mux.json["counts"] == [1, 1, 1, 0, 1]
    pair.get("/away", headers=FORWARDED)          # Location compared
    _, mux = pair.get("/away", headers=FORWARDED)
    assert mux.headers["Location"] == "https://shop.example.com/t/seen"


def test_without_headers_or_with_too_few_values_nothing_changes(both):
    pair = both(PROXIED)
    _, mux = pair.get("/seen")
    assert mux.json["host"] == "localhost" and mux.json["scheme"] == "http"
    # werkzeug ignores a header with fewer values than it trusts (x_for=1
    # always has one; an empty one is no value), and takes the last one
    # otherwise.
    pair.get("/seen", headers={"X-Forwarded-For": "", "X-Forwarded-Proto": "https"})
    pair.get("/seen", headers={"X-Forwarded-Host": "a.test:8443"})


TWO_PROXIES = {"app.py": """
    from flask import Flask, request, url_for
    from werkzeug.middleware import proxy_fix

    app = Flask(__name__)
    app.wsgi_app = proxy_fix.ProxyFix(app.wsgi_app, x_for=2, x_proto=0, x_host=2, x_port=1)

    @app.route("/seen")
    def seen():
        return {"remote_addr": request.remote_addr, "scheme": request.scheme,
                "host": request.host, "external": url_for("seen", _external=True),
                "access_route": request.access_route}
    """}


def test_counts_trust_the_last_n_values_and_ignore_short_headers(both):
    pair = both(TWO_PROXIES)
    _, mux = pair.get("/seen", headers={"X-Forwarded-For": "1.1.1.1, 2.2.2.2, 3.3.3.3",
                                        "X-Forwarded-Host": "a.test, b.test",
                                        "X-Forwarded-Port": "8443",
                                        "X-Forwarded-Proto": "https"})
    assert mux.json["remote_addr"] == "2.2.2.2" and mux.json["scheme"] == "http"
    assert mux.json["host"] == "a.test:8443"
    _, mux = pair.get("/seen", headers={"X-Forwarded-For": "9.9.9.9",
                                        "X-Forwarded-Host": "only.test"},
                      environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert mux.json["remote_addr"] == "10.0.0.2" and mux.json["host"] == "localhost"


NESTED = {"app.py": """
    from flask import Flask, request
    from werkzeug.middleware.proxy_fix import ProxyFix

    app = Flask(__name__)
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=0)
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=0, x_proto=1)

    @app.route("/seen")
    def seen():
        return {"remote_addr": request.remote_addr, "scheme": request.scheme}
    """}


def test_proxy_fix_nested_once_runs_both(both):
    pair = both(NESTED)
    _, mux = pair.get("/seen", headers={"X-Forwarded-For": "5.6.7.8",
                                        "X-Forwarded-Proto": "https"})
    assert mux.json == {"remote_addr": "5.6.7.8", "scheme": "https"}


def test_the_prefix_takes_the_place_of_the_tenants_mount(both):
    """werkzeug's ProxyFix puts X-Forwarded-Prefix in place of SCRIPT_NAME:
    the proxy says where the app is (nginx's ``location /shop/`` passing to
    ``/t/``), so URLs are built under ``/shop``, as on Flask."""
    pair = both(PROXIED)
    headers = {**FORWARDED, "X-Forwarded-Prefix": "/shop"}
    flask, mux = pair.get("/root", headers=headers)
    assert mux.get_data() == b"/shop"
    flask, mux = pair.get("/seen", headers=headers)
    assert mux.json["external"] == "https://shop.example.com/shop/seen"


def test_routed_by_host_the_prefix_is_the_script_root_as_on_flask(tenants):
    """With no path mount (``--base-domain``), the prefix is Flask's."""
    tenants.add("acme", {name: text for name, text in _dedented(PROXIED).items()})
    client = Client(tenants.app(base_domain="example.test"))
    answer = client.get("/root", headers={"Host": "acme.example.test",
                                          "X-Forwarded-Prefix": "/shop"})
    assert answer.get_data() == b"/shop"


def test_other_tenants_and_the_servers_environ_keep_the_real_peer(tenants):
    """The rewrite is on the tenant request's copy: the environ the server
    holds (what its access log, admin checks and other tenants read) is
    the one the client's connection made."""
    tenants.add("acme", _dedented(PROXIED))
    tenants.add("plain", {"index.py": "from flask import request\n"
                                      "def get():\n    return request.remote_addr + ' ' + "
                                      "request.host + ' ' + request.scheme\n"})
    mux, after = tenants.app(), []

    def server(environ, start_response):
        answer = mux(environ, start_response)
        after.append(dict(environ))
        return answer

    client = Client(server)
    base = {"REMOTE_ADDR": "192.0.2.44"}
    proxied = client.get("/acme/seen", headers=FORWARDED, environ_base=base)
    plain = client.get("/plain/", headers=FORWARDED, environ_base=base)
    assert proxied.json["remote_addr"] == "198.51.100.7"
    assert plain.get_data() == b"192.0.2.44 localhost http"
    for environ in after:
        assert environ["REMOTE_ADDR"] == "192.0.2.44" and environ["HTTP_HOST"] == "localhost"
        assert environ["wsgi.url_scheme"] == "http" and environ["SCRIPT_NAME"] == ""
        assert "werkzeug.proxy_fix.orig" not in environ


def _dedented(files):
    import textwrap

    return {name: textwrap.dedent(text) for name, text in files.items()}


TEST_CONTEXT = {"app.py": """
    from flask import Flask, request
    from werkzeug.middleware.proxy_fix import ProxyFix

    app = Flask(__name__)
    app.wsgi_app = ProxyFix(app.wsgi_app)

    @app.route("/")
    def index():
        with app.test_request_context("/", headers={"X-Forwarded-For": "1.2.3.4",
                                                    "X-Forwarded-Proto": "https"}):
            made = [request.remote_addr, request.scheme]
        return {"made": made, "served": [request.remote_addr, request.scheme]}
    """}


def test_test_request_context_is_not_behind_the_proxy_fix(both):
    """Flask makes that request without its ``wsgi_app``: no ProxyFix."""
    _, mux = both(TEST_CONTEXT).get("/", headers={"X-Forwarded-Proto": "https"})
    assert mux.json["made"] == [None, "http"] and mux.json["served"][1] == "https"
