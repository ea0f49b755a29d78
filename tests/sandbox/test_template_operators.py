"""Templates reach the same operator and ``sum`` guards as tenant Python.

Jinja compiles a template to host Python: an operator it does not
intercept, or a filter that is CPython's builtin, runs with no guard. Each
case is the template form of an attack whose Python form already holds
(tests/sandbox/test_attacks_round5.py): the quadratic ``sum(lists, [])``
in one C call, and fraction arithmetic past ``MAX_INT_BITS``."""

import pytest

from tests.sandbox.rounds import assert_not_held
from tests.sandbox.rounds import attack_host
from tests.sandbox.rounds import serve
from tests.sandbox.rounds import template_source


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    yield from attack_host(tmp_path_factory, "template-operators", "s3cr3t-templates")



def test_the_sum_filter_of_lists_does_not_hold_the_process(host):
    outcome = serve(host, "tpl-sum", template_source(
        "{% set rows = [[0] * 1000] * 800 %}{{ rows | sum(start=[]) | length }}"))
    assert_not_held(outcome)


def test_the_sum_filter_adds_numbers_and_attributes_as_jinja_does(host):
    outcome = serve(host, "tpl-sum-ok", template_source(
        "{{ [1, 2, 3] | sum }} {{ [1.5, 2.5] | sum(start=1) }} "
        "{{ [{'n': 2}, {'n': 5}] | sum(attribute='n') }}"))
    assert (outcome.status, outcome.body) == (200, "6 5.0 7")


FRACTIONS = ("from fractions import Fraction\n"
             "from flask import render_template_string\n"
             "A = Fraction(7 ** 50000, 3 ** 30000)\n"
             "B = Fraction(5 ** 40000, 2 ** 30000)\n")


@pytest.mark.parametrize("operator", ["//", "/", "-", "%", "*", "+"])
def test_fraction_arithmetic_past_the_size_limit_is_refused_as_in_python(host, operator):
    python = serve(host, "tpl-frac-py", FRACTIONS + f"def get():\n    return str(A {operator} B > 0)\n")
    template = serve(host, "tpl-frac", FRACTIONS + (
        "def get():\n"
        f"    return render_template_string('{{{{ a {operator} b > 0 }}}}', a=A, b=B)\n"))
    assert python.status == 500 and "too large a fraction" in python.text, python.text[-300:]
    assert template.status == 500 and "too large a fraction" in template.text, template.text[-300:]


def test_template_arithmetic_still_answers(host):
    outcome = serve(host, "tpl-arith", template_source(
        "{{ 7 // 2 }} {{ 7 / 2 }} {{ 7 - 2 }} {{ 7 % 4 }} {{ 2 ** 10 }} {{ 'ab' * 2 }}"))
    assert (outcome.status, outcome.body) == (200, "3 3.5 5 3 1024 abab")


# min, max and join are linear C calls over what the request already holds,
# the limit the README states for every road to them (Python's included).
@pytest.mark.parametrize("pipeline", ["sort", "sort(attribute=1)", "unique | list", "dictsort",
                                      "groupby(0) | list", "groupby(1) | list", "reverse | list",
                                      "list", "map('first') | list", "select | list",
                                      "rejectattr(0) | list", "pprint", "tojson", "batch(3) | list",
                                      "slice(3) | list", "unique(attribute=0) | list"])
def test_filters_over_a_big_sequence_do_not_hold_the_process(host, pipeline):
    value = "{% set v = [[3, 1], [2, 0], [1, 2]] * 1000000 %}"
    if pipeline == "dictsort":
        value = "{% set v = dict.fromkeys(range(100000)) %}"
    outcome = serve(host, "tpl-big", template_source(value + "{{ (v | " + pipeline + ") | length }}"))
    assert outcome.held_s < 0.25, f"held the process for {outcome.held_s:.2f} s ({outcome.status})"


def test_the_sorting_filters_sort_as_jinja_does(host):
    outcome = serve(host, "tpl-sort-ok", template_source(
        "{{ ['b', 'A', 'c'] | sort | join(',') }} {{ ['b', 'A', 'c'] | sort(case_sensitive=true) "
        "| join(',') }} {{ [[2, 'x'], [1, 'y']] | sort(attribute=0, reverse=true) | map('last') "
        "| join(',') }} {{ {'b': 1, 'a': 2} | dictsort | map('first') | join(',') }} "
        "{{ {'b': 1, 'a': 2} | dictsort(by='value', reverse=true) | map('first') | join(',') }}"))
    assert (outcome.status, outcome.body) == (200, "A,b,c A,b,c x,y a,b a,b")


JINJA_SAME = [
    "{{ [3, 1, 2] | sort | list }}",
    "{% for g in [{'k': 'b', 'v': 1}, {'k': 'a', 'v': 2}, {'k': 'B', 'v': 3}] | groupby('k') %}"
    "{{ g.grouper }}={{ g.list | map(attribute='v') | join('+') }};{% endfor %}",
    "{% for k, items in [[1, 'x'], [0, 'y'], [1, 'z']] | groupby(0) %}{{ k }}:{{ items | length }}"
    "{% endfor %}",
    "{{ {'b': [1, 2], 'a': {'c': None}} | pprint }}",
    "{{ {'b': 1, 'a': '<x>'} | tojson }}",
    "{{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('odd') | list }}",
    "{{ [[1, 2], [3, 4]] | map('first') | join(',') }} {{ [1, 2, 3, 4, 5] | batch(2) | list }}",
    "{{ [1, 2, 3, 4, 5] | slice(2) | list }} {{ 'abca' | unique | list }} {{ [4, 1, 9] | min }}",
    "{{ [4, 1, 9] | max }} {{ 'abc' | list }} {{ [{'a': 1}, {'a': 0}] | selectattr('a') | list }}",
    "{{ [{'a': 1}, {'a': 0}] | rejectattr('a') | list }} {{ ['x', '<y>'] | join }}",
]


@pytest.mark.parametrize("template", JINJA_SAME)
def test_the_guarded_filters_answer_as_jinja_does(host, template):
    from jinja2.sandbox import SandboxedEnvironment

    expected = SandboxedEnvironment(autoescape=True).from_string(template).render()
    outcome = serve(host, "tpl-same", template_source(template))
    assert (outcome.status, outcome.body) == (200, expected)


def test_pprint_past_its_item_limit_is_refused_with_a_clear_error(host):
    outcome = serve(host, "tpl-pprint", template_source("{{ ([[0, 1]] * 20000) | pprint }}"))
    assert outcome.status == 500
    assert "the pprint filter formats at most 10,000 items here" in outcome.text


@pytest.mark.parametrize("template", [
    "{% set v = [1] * 3000000 %}{% for x in v %}{{ x }}{% endfor %}",
    "{% set v = 'ab http://x.y ' * 600000 %}{{ v | urlize | length }}",
    "{% set v = 'ab cd-ef ' * 1000000 %}{{ v | title | length }}{{ v | wordcount }}",
    "{% set v = 'x' * 3000000 %}{{ v | urlize | length }}{{ v | title | length }}",
])
def test_output_and_word_filters_over_big_input_do_not_hold_the_process(host, template):
    outcome = serve(host, "tpl-words", template_source(template))
    assert outcome.held_s < 0.25, f"held the process for {outcome.held_s:.2f} s ({outcome.status})"


@pytest.mark.parametrize("template", [
    "{% set v = 'ab ' * 100000 %}{{ v | wordwrap(20) }}",
    "{% set v = dict.fromkeys(range(20000), 'v') %}{{ v | xmlattr }}",
    "{% set v = dict.fromkeys(range(20000), 'v') %}{{ v | urlencode }}",
])
def test_filters_that_cannot_be_cut_are_capped_with_a_clear_error(host, template):
    outcome = serve(host, "tpl-capped", template_source(template))
    assert outcome.status == 500 and "filter takes at most" in outcome.text, outcome.text[-300:]


def test_word_filters_cut_in_pieces_answer_as_jinja_does(host):
    from jinja2.sandbox import SandboxedEnvironment

    text = ("see http://example.com/a_(b), <mail@example.org> and www.x.io! " * 400
            + "x" * 9000 + " tail (word) " * 10)
    template = ("{{ v | urlize | length }} {{ v | urlize | truncate(80) }} "
                "{{ v | urlize | replace('a', '') | wordcount }} {{ v | title | wordcount }} "
                "{{ v | title | replace('X', '') }}")
    expected = SandboxedEnvironment(autoescape=True).from_string(template).render(v=text)
    outcome = serve(host, "tpl-words-same", (
        "from flask import render_template_string\n"
        f"TEXT = {text!r}\n"
        "def get():\n"
        f"    return render_template_string({template!r}, v=TEXT)\n"))
    assert (outcome.status, outcome.body) == (200, expected)


def test_a_big_plain_page_within_the_budget_renders(host):
    """Output is counted as MarkupSafe escapes it, not by the worst case:
    12 MB of plain text under a 32 MB budget is not refused."""
    outcome = serve(host, "tpl-big-page", template_source(
        "{% set line = 'a plain line of text\\n' * 1000 %}"
        "{% for i in range(600) %}{{ line }}{% endfor %}"))
    assert outcome.status == 200, outcome.text[-300:]
    assert len(outcome.body) == 21 * 1000 * 600


def test_replace_in_a_big_plain_text_within_the_budget_answers(host):
    outcome = serve(host, "tpl-big-replace", template_source(
        "{{ ('abc ' * 2000000) | replace('b', 'B') | length }}"))
    assert (outcome.status, outcome.body) == (200, "8000000"), outcome.text[-300:]


def test_sized_case_mappings_and_splits_answer_as_python_does(host):
    """The sized str methods (natives._case, natives._split) give CPython's
    answers for the texts a request may hold."""
    source = (
        "def get():\n"
        "    t = 'a b\\tc\\nd ' * 50000\n"
        "    u = '\\u0390x ' * 1000\n"
        "    b = b'k=v;' * 10000\n"
        "    return ' '.join(str(x) for x in (\n"
        "        len(t.split()), len(t.split(' ')), len(t.rsplit(None, 3)), len(t.splitlines()),\n"
        "        len(t.split('\\n', 10)), len(u.upper()), u.upper()[:3], len(u.split()),\n"
        "        len(b.split(b';')), len(b.splitlines()), t.title()[:5], len('x'.split('x'))))\n")
    outcome = serve(host, "sized-str", source)
    t, u, b = 'a b\tc\nd ' * 50000, '\u0390x ' * 1000, b'k=v;' * 10000
    expected = " ".join(str(x) for x in (
        len(t.split()), len(t.split(' ')), len(t.rsplit(None, 3)), len(t.splitlines()),
        len(t.split('\n', 10)), len(u.upper()), u.upper()[:3], len(u.split()),
        len(b.split(b';')), len(b.splitlines()), t.title()[:5], len('x'.split('x'))))
    assert (outcome.status, outcome.body) == (200, expected), outcome.text[-300:]
