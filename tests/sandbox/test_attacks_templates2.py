"""Second round of attacks on templates: Jinja's control flow, its tests,
the filters no one sized for a str input, and text that tenant code makes.

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
from tests.sandbox.rounds import LIMITS
from tests.sandbox.rounds import template_source


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    yield from attack_host(tmp_path_factory, "template-attacks2", "s3cr3t-tplattack2")


def serve_files(host, name: str, entry: str, templates: dict):
    """Deploy a tenant whose ``get()`` renders the file template ``entry``."""
    source = ("from flask import render_template\n"
              "def get():\n"
              f"    return render_template({entry!r})\n")
    files = {"index.py": source, **{f"templates/{k}": v for k, v in templates.items()}}
    host.write(name, files, LIMITS)
    outcome = host.request(name)
    host.close(name)
    return outcome


#: 2^18 leaves: a list nested 18 deep, each level holding the next.
TREE = "[" * 18 + "]" * 18


def test_nested_for_loops_tick(host):
    outcome = serve(host, "tpl2-for", template_source(
        "{% set v = [0] * 4500 %}{% for a in v %}{% for b in v %}{% endfor %}{% endfor %}done"))
    assert_contained(outcome)


def test_exponential_includes_tick(host):
    outcome = serve_files(host, "tpl2-include", "main.html", {
        "main.html": "{% set t = " + TREE + " %}{% include 'a.html' %}",
        "a.html": "{% for t in t %}{% include 'a.html' %}{% include 'a.html' %}{% endfor %}"})
    assert_contained(outcome)


#: 100 KB of template text, printed 2,500 times (250 MB).
LITERAL_LOOP = "{% set v = [0] * 2500 %}{% for a in v %}" + "Y" * 100_000 + "{% endfor %}"


@pytest.mark.parametrize("template", [LITERAL_LOOP, "{% set x %}" + LITERAL_LOOP + "{% endset %}"
                                      "{{ x | length }}"])
def test_template_text_in_a_loop_is_counted(host, template):
    outcome = serve(host, "tpl2-literal", template_source(template))
    assert_contained(outcome)


@pytest.mark.parametrize("pipeline", ["list | length", "join | length", "slice(2) | list | length"])
def test_iterating_filters_of_a_big_str_are_sized(host, pipeline):
    outcome = serve(host, "tpl2-strlist", template_source(
        "{% set s = 'x' * 25000000 %}{{ s | " + pipeline + " }}"))
    assert_contained(outcome)


@pytest.mark.parametrize("name", ["e", "forceescape"])
def test_escaping_a_big_str_is_sized(host, name):
    outcome = serve(host, "tpl2-escape", template_source(
        "{% set s = '<' * 25000000 %}{{ s | " + name + " | length }}"))
    assert_contained(outcome)


EXPANDING = "{% set s = '\\u0390' * 8000000 %}"


@pytest.mark.parametrize("source", [
    template_source(EXPANDING + "{{ s | upper | length }}"),
    template_source(EXPANDING + "{{ s.upper() | length }}"),
    template_source("{% set s = 'xy ' * 8000000 %}{{ s.split() | length }}"),
    template_source("{% set s = '\\n' * 20000000 %}{{ s.splitlines() | length }}"),
    "def get():\n    s = '\\u0390' * 8000000\n    return str(len(s.upper()))\n",
    "def get():\n    s = 'xy ' * 8000000\n    return str(len(s.split()))\n",
])
def test_expanding_str_methods_are_sized(host, source):
    outcome = serve(host, "tpl2-expand", source)
    assert_contained(outcome)


def test_divisibleby_of_a_format_string_is_sized(host):
    outcome = serve(host, "tpl2-divisible", template_source("{{ '%300000000s' is divisibleby('x') }}"))
    assert_contained(outcome)


def test_round_with_a_huge_precision_is_refused(host):
    outcome = serve(host, "tpl2-round", template_source("{{ 1.5 | round(3000000, 'floor') }}"))
    assert_contained(outcome)


def test_xmlattr_of_big_values_is_sized(host):
    keys = ", ".join(repr(chr(97 + i)) for i in range(20))
    outcome = serve(host, "tpl2-xmlattr", template_source(
        "{% set s = 'x' * 10000000 %}{{ dict.fromkeys([" + keys + "], s) | xmlattr | length }}"))
    assert_contained(outcome)


def test_loop_length_of_a_generator_ticks(host):
    outcome = serve(host, "tpl2-looplen", template_source(
        "{% set s = 'x' * 25000000 %}{% for c in s | select %}{% if loop.first %}"
        "{{ loop.length }}{% endif %}{% endfor %}"))
    assert_contained(outcome)


#: A tenant object whose text (str and repr) is 10 MB that the tenant already holds.
TEXT_OBJECT = ("from flask import render_template_string\n"
               "S = 'x' * 10000000\n"
               "class H:\n"
               "    def __str__(self):\n"
               "        return S\n"
               "    def __repr__(self):\n"
               "        return S\n"
               "def get():\n"
               "    return render_template_string({!r}, h=H())[:10]\n")


@pytest.mark.parametrize("template", [
    "{% for i in range(30) %}{{ h }}{% endfor %}",
    "{{ (h ~ h ~ h ~ h ~ h ~ h ~ h ~ h ~ h ~ h ~ h ~ h) | length }}",
    "{{ ([h] * 30) | join | length }}",
    "{{ ([h] * 30) | string | length }}",
    "{{ '%s%s%s%s%s%s%s%s%s%s%s%s' | format(h, h, h, h, h, h, h, h, h, h, h, h) | length }}",
])
def test_tenant_text_objects_are_sized(host, template):
    outcome = serve(host, "tpl2-strobj", TEXT_OBJECT.format(template))
    assert_contained(outcome)
