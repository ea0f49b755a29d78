"""The operator's console in a real browser: headless Chromium (Debian's
``chromium`` and ``chromium-driver``, driven by Selenium) loads ``/_mux/``
from a live server, and the data, the charts and a live log line appear."""

import os
import shutil
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def wait(driver, script, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {script}")


def test_console_shows_tenants_charts_and_a_live_log(browser, tenants, muxserver_process, tmp_path):
    tenants.add("shop", {"index.py": "def get():\n    return 'shop'\n",
                         "say.py": "import mux\ndef get():\n    print('hello', mux.request.args['w'])\n"
                                   "    return 'said'\n"})
    tenants.add("blog", {"app.py": "from flask import Flask\napp = Flask(__name__)\n"
                                   "@app.route('/')\ndef index():\n    return 'blog'\n"})
    tenants.add("broken", {"index.py": "def get(:\n"})
    server = muxserver_process("--tenants-dir", str(tenants.root), "--data-dir",
                               str(tmp_path / "data")).wait_ready()
    for _ in range(20):
        requests.get(server.url + "/shop/", timeout=5)
        requests.get(server.url + "/blog/", timeout=5)
    browser.get(server.admin_url + "/_mux/")
    wait(browser, "return document.body.dataset.loaded === 'yes'")
    rows = wait(browser, "const r = [...document.querySelectorAll('tr.tenant')]; "
                         "return r.length >= 2 && r.map(x => x.dataset.tenant)")
    assert set(rows) == {"shop", "blog"}
    # Serving processes report every second: wait for the requests column.
    wait(browser, "return +document.querySelector('tr[data-tenant=shop]').children[8]"
                  ".textContent >= 20")
    assert "broken/index.py:1: syntax error" in browser.find_element("id", "errors").text
    for chart in ("chart-rss", "chart-warm", "chart-rps"):
        wait(browser, f"return document.getElementById('{chart}').dataset.drawn === 'yes'")
    browser.find_element("css selector", "tr[data-tenant=shop]").click()
    marker = f"marker-{os.getpid()}"
    requests.get(server.url + f"/shop/say?w={marker}", timeout=5)
    wait(browser, f"return document.getElementById('logs').textContent.includes('hello {marker}')")
    shot = tmp_path / "console.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("MUX_SAVE_SCREENSHOT"):
        shutil.copy(shot, Path(REPO) / "docs" / "console.png")


def test_console_with_a_token_asks_for_it(browser, tenants, muxserver_process, tmp_path):
    tenants.add("shop", {"index.py": "def get():\n    return 'shop'\n"})
    server = muxserver_process("--tenants-dir", str(tenants.root), "--admin-token", "console-token",
                               "--data-dir", str(tmp_path / "data")).wait_ready()
    assert requests.get(server.admin_url + "/_mux/console/data", timeout=5).status_code == 401
    browser.get(server.admin_url + "/_mux/")
    wait(browser, "return getComputedStyle(document.getElementById('login')).display === 'block'")
    browser.find_element("id", "token").send_keys("console-token")
    browser.find_element("css selector", "#login button").click()
    wait(browser, "return document.querySelectorAll('tr.tenant').length === 1")


def test_a_tenant_page_script_cannot_reach_the_admin_api(tenants, live):
    """Tenant pages share the console's origin: what a script on one would
    send (Sec-Fetch-* headers) is refused without the console's key, and the
    page that holds the key is served to navigations only, unframeable."""
    import re

    tenants.add("evil", {"index.py": "def get():\n    return '<script>fetch(\"/_mux/status\")</script>'\n"})
    server = live()
    script = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}
    assert server.admin.get("/_mux/status", headers=script).status_code == 403
    assert server.admin.request("PUT", "/_mux/tenants/victim", data=b"x", headers=script).status_code == 403
    assert server.admin.get("/_mux/", headers=script).status_code == 403  # no key for fetch()
    page = server.admin.get("/_mux/", headers={"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate",
                                         "Sec-Fetch-Dest": "document"})
    assert page.status_code == 200
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    key = re.search(r'<meta name="mux-console-key" content="([0-9a-f]+)">', page.text).group(1)
    assert "<script src=\"/_mux/console.js\">" in page.text and "script-src 'self'" in \
        page.headers["Content-Security-Policy"]
    assert server.admin.get("/_mux/status", headers={**script, "X-Mux-Console": key}).status_code == 200
    assert server.admin.get("/_mux/status").status_code == 200  # curl and the CLI send no such headers


def test_a_tenant_page_cannot_take_over_the_console_in_the_browser(browser, tenants,
                                                                  muxserver_process, tmp_path):
    """Issue 22, in Chromium: a tenant page — with ``Cross-Origin-Opener-Policy:
    same-origin`` of its own, so it keeps the handle of what it opens — opens
    the console and tries to read its key from the DOM, to call the admin API
    and to script it. The console is on another origin (the admin listener):
    each is refused by the browser, and the admin API answers no call that
    the page's script makes."""
    evil = '''
from flask import Flask, Response
app = Flask(__name__)
ADMIN = "ADMIN_URL"

@app.route("/")
def page():
    html = """<!doctype html><title>evil</title><script>
    const results = {};
    const w = window.open(ADMIN + "/_mux/", "console");
    setTimeout(async () => {
      try { results.key = w.document.querySelector('meta[name=mux-console-key]').content; }
      catch (e) { results.key = "blocked " + e.name; }
      try { w.eval("1"); results.script = "ran"; } catch (e) { results.script = "blocked " + e.name; }
      try { const r = await fetch(ADMIN + "/_mux/status"); results.fetch = "read " + (await r.text()).slice(0, 40); }
      catch (e) { results.fetch = "blocked " + e.name; }
      try { const r = await fetch(ADMIN + "/_mux/evict", {method: "POST", mode: "no-cors", body: "{}"});
            results.post = "sent " + r.type; }
      catch (e) { results.post = "blocked " + e.name; }
      document.title = "done " + JSON.stringify(results);
    }, 2000);
    </script>""".replace("ADMIN", repr(ADMIN))
    return Response(html, headers={"Cross-Origin-Opener-Policy": "same-origin"})
'''
    server = muxserver_process("--tenants-dir", str(tenants.root), "--data-dir", str(tmp_path / "d"))
    tenants.add("evil", {"app.py": evil.replace("ADMIN_URL", server.admin_url)})
    tenants.add("victim", {"index.py": "def get():\n    return 'victim'\n"})
    server.wait_ready()
    requests.get(server.url + "/victim/", timeout=10)
    browser.get(server.url + "/evil/")
    title = wait(browser, "return document.title.startsWith('done') && document.title")
    import json

    results = json.loads(title[len("done "):])
    assert results["key"].startswith("blocked"), results
    assert results["script"].startswith("blocked"), results
    assert results["fetch"].startswith("blocked"), results  # no CORS: nothing to read
    # A blind POST may leave the browser, but the admin API refuses it.
    log = server.output()
    assert "evicted" not in log
    assert requests.get(server.admin_url + "/_mux/status", timeout=10).json()["tenants"]["victim"]
    warm = requests.get(server.admin_url + "/_mux/status", timeout=10).json()["warm_modules"]
    assert any(m["tenant"] == "victim" for m in warm), warm  # the POST evicted nothing


def test_the_admin_listener_answers_only_its_own_host_names(tenants, muxserver_process, tmp_path):
    """DNS rebinding: a web site whose name now points at 127.0.0.1 reaches
    the admin listener with its own name in Host — 421, whatever the path;
    the listener's address, localhost and admin_hosts are served."""
    config = tmp_path / "mux.toml"
    config.write_text('admin_hosts = ["ops.example.test"]\n')
    server = muxserver_process("--tenants-dir", str(tenants.root), "--config", str(config),
                               "--data-dir", str(tmp_path / "d")).wait_ready()
    for host in ("attacker.example", "attacker.example:80", "127.0.0.1.nip.io"):
        for path in ("/_mux/", "/_mux/status", "/_mux/console/data", "/_mux/console.js"):
            r = requests.get(server.admin_url + path, headers={"Host": host}, timeout=10)
            assert r.status_code == 421, (host, path, r.status_code)
    for host in (f"127.0.0.1:{server.admin_port}", f"localhost:{server.admin_port}",
                 "ops.example.test", "[::1]"):
        assert requests.get(server.admin_url + "/_mux/status", headers={"Host": host},
                            timeout=10).status_code == 200, host
    assert requests.get(server.admin_url + "/_mux/healthz", headers={"Host": "lb.internal"},
                        timeout=10).status_code == 200
