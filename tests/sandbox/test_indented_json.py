"""Indented JSON is sized by how deep its values nest, on every road.

Each line of indented JSON repeats the indent once per level: a list of N
values nested D levels deep becomes N lines of ``D * indent`` spaces. The
sandbox's ``json.dumps`` once allowed about 70 bytes a value whatever the
depth, so ``json.dumps(deep, indent=64)`` built hundreds of megabytes in one
call against a 32 MB budget (the §11 "growth in one call" class). One judge,
``sandbox.facades.data.json_text_size``, now sizes the text for the
``json`` module, ``JSONEncoder``, ``flask.json``, ``app.json``, ``jsonify``
and ``tojson``.
"""

import json

import pytest

from tests.sandbox.inprocess import SandboxHost
from tests.sandbox.rounds import LIMITS
from tests.sandbox.rounds import assert_bounded
from tests.sandbox.rounds import serve
from tests.sandbox.rounds import serve_in_fresh_process

#: 18 000 zeros under 200 levels: 230 MB at an indent of 64, under 1 MB of
#: objects. ``_nested(n, d)`` is the tenant's helper.
NESTED = ("def _nested(width, depth):\n"
          "    value = [0] * width\n"
          "    for _ in range(depth):\n"
          "        value = [value]\n"
          "    return value\n")
DEEP = "_nested(18000, 200)"

#: Each road from tenant code to indented JSON text.
ONE_CALL_BOMBS = {
    "json_dumps": f"import json\n{NESTED}def get():\n"
                  f"    return str(len(json.dumps({DEEP}, indent=64)))\n",
    "json_dumps_text_indent": f"import json\n{NESTED}def get():\n"
                              f"    return str(len(json.dumps({DEEP}, indent=' ' * 64)))\n",
    "json_encoder": f"import json\n{NESTED}def get():\n"
                    f"    return str(len(json.JSONEncoder(indent=64).encode({DEEP})))\n",
    "flask_json": f"from flask import json\n{NESTED}def get():\n"
                  f"    return str(len(json.dumps({DEEP}, indent=64)))\n",
    "app_json": f"from flask import Flask\napp = Flask(__name__)\n{NESTED}"
                "@app.get('/')\ndef index():\n"
                f"    return str(len(app.json.dumps({DEEP}, indent=64)))\n",
    # jsonify lays out by 2 when app.json.compact is False: a wider bottom.
    "jsonify": f"from flask import Flask, jsonify\napp = Flask(__name__)\n"
               f"app.json.compact = False\n{NESTED}"
               "@app.get('/')\ndef index():\n"
               "    return jsonify(_nested(150000, 600))\n",
    "tojson": f"from flask import Flask, render_template_string\napp = Flask(__name__)\n"
              f"{NESTED}@app.get('/')\ndef index():\n"
              "    return render_template_string('{{ v|tojson(64) }}', "
              f"v={DEEP})\n",
}


@pytest.mark.parametrize("case", sorted(ONE_CALL_BOMBS))
def test_one_call_of_indented_json_stays_within_the_budget(tmp_path, case):
    """It denies indented JSON whose indents alone are past the budget."""
    outcome = serve_in_fresh_process(tmp_path, f"deep-{case.replace('_', '-')}",
                                     ONE_CALL_BOMBS[case])
    assert_bounded(outcome)
    # The judge refuses the text by its size before it is built. Its walk
    # over the values ticks: on a machine busy enough (CI's two shards on
    # two vCPUs), the CPU limit may stop that walk first. Stopped either
    # way, and never built: the peak is what proves it (assert_bounded).
    assert ("memory limit exceeded" in outcome.text
            or "CPU time limit exceeded" in outcome.text), outcome.text[-500:]


#: Ordinary indented output, as Python's json lays it out.
DOCUMENT = {"b": [1, 2.5, None, True, {"c": "é", "d": []}], "a": {"x": [[1, [2, [3]]]]}}
ORDINARY = f"""
import json
from flask import Flask, jsonify, render_template_string
from flask import json as flask_json
app = Flask(__name__)
DOCUMENT = {DOCUMENT!r}
{NESTED}
@app.get('/')
def index():
    return jsonify(
        json_2=json.dumps(DOCUMENT, indent=2),
        json_tab=json.dumps(DOCUMENT, indent='\\t', sort_keys=True),
        encoder=json.JSONEncoder(indent=4).encode(DOCUMENT),
        flask=flask_json.dumps(DOCUMENT, indent=3),
        app=app.json.dumps(DOCUMENT, indent=1),
        tojson=render_template_string('{{{{ v|tojson(2) }}}}', v=DOCUMENT),
        deep=json.dumps(_nested(50, 40), indent=8),
    )
"""


def test_ordinary_indented_json_is_laid_out_as_python_does(tmp_path):
    host = SandboxHost(tmp_path)
    outcome = serve(host, "indented", ORDINARY)
    assert outcome.status == 200, outcome.text[-2000:]
    got = json.loads(outcome.body)
    assert got["json_2"] == json.dumps(DOCUMENT, indent=2)
    assert got["json_tab"] == json.dumps(DOCUMENT, indent="\t", sort_keys=True)
    assert got["encoder"] == json.JSONEncoder(indent=4).encode(DOCUMENT)
    # Flask's provider: sorted keys, ASCII.
    assert got["flask"] == json.dumps(DOCUMENT, indent=3, sort_keys=True)
    assert got["app"] == json.dumps(DOCUMENT, indent=1, sort_keys=True)
    deep = [0] * 50
    for _ in range(40):
        deep = [deep]
    assert got["deep"] == json.dumps(deep, indent=8)
    assert json.loads(got["tojson"].replace("\\u003c", "<")) == DOCUMENT
