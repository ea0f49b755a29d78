"""Attacks on templates and the Flask companions: host Python that runs
over tenant-sized input without ticking, or one C call that allocates far
past the request's memory budget.

Each case is tenant source run once in-process (:mod:`tests.sandbox.rounds`,
32 MB / 300 ms). A safe sandbox stops each of them with the budget (500 or
503) without holding the process for :data:`HELD_BOUND_S` and without the
peak RSS passing the budget by far. Each was a strict xfail while the hole
was open; all are closed.
"""

import pytest

from tests.sandbox.rounds import assert_contained
from tests.sandbox.rounds import attack_host
from tests.sandbox.rounds import serve
from tests.sandbox.rounds import template_source


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    yield from attack_host(tmp_path_factory, "template-attacks", "s3cr3t-tplattack")


#: Twenty references to one 10 MB string: it fits the budget, ``str()`` of
#: the list is 200 MB.
BIG_LIST = "{% set s = 'x' * 10000000 %}{% set v = [s] * 20 %}"


def test_tilde_concatenation_is_sized(host):
    outcome = serve(host, "tpl-tilde", template_source(
        "{% set s = 'x' * 20000000 %}{{ (s ~ s ~ s ~ s ~ s ~ s ~ s ~ s ~ s ~ s) | length }}"))
    assert_contained(outcome)


def test_replace_filter_is_sized_before_it_builds(host):
    outcome = serve(host, "tpl-replace", template_source(
        "{% set s = 'a' * 10000000 %}{{ s | replace('a', '" + "b" * 50 + "') | length }}"))
    assert_contained(outcome)


def test_indent_with_a_string_width_is_sized(host):
    outcome = serve(host, "tpl-indent", template_source(
        "{% set s = 'a\\n' * 100000 %}{{ s | indent('x' * 3000) | length }}"))
    assert_contained(outcome)


def test_wordwrap_wrapstring_is_sized(host):
    outcome = serve(host, "tpl-wrapstring", template_source(
        "{% set s = 'x ' * 60000 %}{{ s | wordwrap(1, wrapstring='y' * 5000) | length }}"))
    assert_contained(outcome)


def test_join_filter_result_is_sized(host):
    outcome = serve(host, "tpl-join", template_source(
        "{% set s = 'x' * 10000000 %}{{ ([s] * 30) | join | length }}"))
    assert_contained(outcome)


@pytest.mark.parametrize("expression", ["v", "namespace(a=v)", "v ~ ''"])
def test_printing_a_big_container_is_sized(host, expression):
    outcome = serve(host, "tpl-print", template_source(BIG_LIST + "{{ " + expression + " }}"))
    assert_contained(outcome)


@pytest.mark.parametrize("name", ["string", "e", "forceescape", "center(10)", "trim", "upper",
                                  "capitalize", "striptags"])
def test_text_filters_of_a_big_container_are_sized(host, name):
    outcome = serve(host, "tpl-strfilter", template_source(BIG_LIST + "{{ v | " + name + " | length }}"))
    assert_contained(outcome)


def test_pprint_of_big_strings_is_sized(host):
    outcome = serve(host, "tpl-pprint-big", template_source(BIG_LIST + "{{ v | pprint | length }}"))
    assert_contained(outcome)


def test_urlencode_of_a_big_value_is_sized(host):
    outcome = serve(host, "tpl-urlencode", template_source(
        "{% set s = 'x' * 1000000 %}{{ dict(a=[s] * 10) | urlencode | length }}"))
    assert_contained(outcome)


@pytest.mark.parametrize("values", ["filename=[s] * 10", "filename='a', _anchor=[s] * 10"])
def test_url_for_with_a_big_value_is_sized(host, values):
    outcome = serve(host, "tpl-url-for", (
        "from flask import url_for\n"
        "def get():\n"
        "    s = 'x' * 1000000\n"
        f"    return url_for('static', {values})[:50]\n"))
    assert_contained(outcome)


@pytest.mark.parametrize("source", [
    "from markupsafe import Markup\n"
    "def get():\n    return str(len(Markup('&amp;' * 2000000).unescape()))\n",
    "from markupsafe import Markup\n"
    "def get():\n    return str(len(Markup('&amp;' * 2000000).striptags()))\n",
    template_source("{{ ('&amp;' * 2000000) | striptags | length }}"),
    template_source("{{ (('&amp;' * 2000000) | safe).unescape() | length }}"),
])
def test_unescaping_many_entities_does_not_hold_the_process(host, source):
    outcome = serve(host, "tpl-unescape", source)
    assert_contained(outcome)


def test_secure_filename_of_expanding_text_is_sized(host):
    outcome = serve(host, "tpl-secure", (
        "from werkzeug.utils import secure_filename\n"
        "def get():\n"
        "    return str(len(secure_filename('\\ufdfa' * 5000000)))\n"))
    assert_contained(outcome)


#: Two equal lists of 60 distinct-but-equal rows of a million floats: one
#: == compares 60 million floats in C (lists of the same object compare by
#: identity, quickly).
ROWS = "{% set a = [1.5] * 1000000 %}{% set b = [3 / 2] * 1000000 %}"


@pytest.mark.parametrize("source", [
    template_source(ROWS + "{{ ([a] * 60) == ([b] * 60) }}"),
    template_source(ROWS + "{{ ([a] * 60) < ([b] * 60) }}"),
    template_source(ROWS + "{{ ([a] * 60) is eq([b] * 60) }}"),
    template_source(ROWS + "{% for x in [1, 2] %}{{ loop.changed([a] * 60) }}"
            "{{ loop.changed([b] * 60) }}{% endfor %}"),
    "def get():\n    a = [1.5] * 1000000\n    b = [3 / 2] * 1000000\n"
    "    return str([a] * 60 == [b] * 60)\n",
])
def test_deep_comparisons_do_not_hold_the_process(host, source):
    outcome = serve(host, "tpl-compare", source)
    assert_contained(outcome)


@pytest.mark.parametrize("source", [
    template_source("{% set t = ((1.5,) * 1000) %}{{ dict.fromkeys([t] * 100000) | length }}"),
    "def get():\n    t = (1.5,) * 1000\n    return str(len(dict.fromkeys([t] * 100000)))\n",
])
def test_hashing_one_big_tuple_many_times_does_not_hold_the_process(host, source):
    outcome = serve(host, "tpl-hash", source)
    assert_contained(outcome)


def test_output_without_autoescape_is_sized_as_it_grows(host):
    outcome = serve(host, "tpl-noescape", template_source(
        "{% set s = 'x' * 1000000 %}{% autoescape false %}{% for i in range(300) %}{{ s }}"
        "{% endfor %}{% endautoescape %}"))
    assert_contained(outcome)


@pytest.mark.parametrize("call", ["([a] * 60).count(b)", "([a] * 60).index(b)",
                                  "tuple([a] * 60).count(b)", "([a] * 60).remove(b)"])
def test_searching_for_a_deep_value_does_not_hold_the_process(host, call):
    outcome = serve(host, "tpl-search", (
        "def get():\n    a = [1.5] * 1000000\n    b = [3 / 2] * 999999 + [2.0]\n"
        f"    return str({call})\n"))
    assert_contained(outcome)


@pytest.mark.parametrize("call", ["sorted([a, b] * 1000)", "max([a, b] * 1000)", "min([b, a] * 1000)",
                                  "[a, b] * 1000", "max(a, b, a, b, a, b, a, b, a, b, a, b)"])
def test_ordering_deep_values_does_not_hold_the_process(host, call):
    sort = "    x = " + call + "\n    x.sort()\n" if call.startswith("[") else f"    x = {call}\n"
    outcome = serve(host, "tpl-order", (
        "def get():\n    a = [1.5] * 1000000\n    b = [3 / 2] * 999999 + [2.0]\n"
        + sort + "    return 'x'\n"))
    assert_contained(outcome)
