"""The guarded comparison (sandbox.guards.compare) gives CPython's answers."""

import itertools
import math

import pytest

from sandbox import Budget
from sandbox import charged
from sandbox.guards.compare import compared
from sandbox.guards.compare import guarded_compare
from sandbox.guards.compare import CHUNK
from sandbox.guards.operators import SizeLimitError

NAN = math.nan
VALUES = [
    0, 1, 1.0, NAN, "a", "b", b"a", None, True, (), [], {}, (1, 2), (1, 3), [1, 2], [1, 2, 3],
    [[1, 2], [3]], [[1, 2], [4]], ([1], "x"), ([1], "y"), {"a": 1}, {"a": 1.0}, {"a": [1, 2]},
    {"a": [1, 3]}, {"b": 1}, [NAN], (NAN,), [1, [2, [3, [4]]]], [1, [2, [3, [5]]]],
    list(range(CHUNK * 3)), list(range(CHUNK * 3 - 1)) + [0], [[i] for i in range(CHUNK + 5)],
    {1, 2}, frozenset({1}), {1: {2: {3: [4]}}}, {1: {2: {3: [5]}}},
]
OPS = ["==", "!=", "<", "<=", ">", ">=", "in", "not in"]


@pytest.fixture(autouse=True)
def budget():
    """The guard ticks: as tenant code, inside a request's budget."""
    with charged(Budget(cpu_s=60)):
        yield


def _python(left, op, right):
    return eval(f"left {op} right", {"left": left, "right": right})  # noqa: S307 - the reference


@pytest.mark.parametrize("op", OPS)
def test_every_pair_compares_as_cpython_does(op):
    for left, right in itertools.product(VALUES, repeat=2):
        try:
            expected = _python(left, op, right)
        except TypeError:
            with pytest.raises(TypeError):
                guarded_compare(left, op, right)
            continue
        assert guarded_compare(left, op, right) == expected, (left, op, right)


def test_an_item_is_equal_to_itself_first_as_in_cpython():
    same = [NAN]
    assert guarded_compare([same, NAN], "==", [same, NAN]) == ([same, NAN] == [same, NAN])
    row = [NAN] * 3
    assert guarded_compare([row], "==", [row]) is True
    assert guarded_compare(row, "in", [row]) is True


def test_ordering_is_decided_by_the_first_differing_nested_item():
    assert guarded_compare([[1, [2, 9]], 0], "<", [[1, [3]], 0]) is True
    assert guarded_compare(([1], 2), ">=", ([1], 2, 0)) is False


def test_a_chained_comparison_refuses_a_container_too_big_for_one_call():
    big = [[0] * 1000] * 200
    with pytest.raises(SizeLimitError, match="chained comparison"):
        compared(big)
    small = [[0] * 10] * 10
    assert compared(small) is small


@pytest.mark.parametrize("make", [list, tuple])
def test_searching_a_sequence_for_a_container_answers_as_cpython_does(make):
    from sandbox.guards.compare import searching

    row, other = [1, [2, 3]], [1, [2, 4]]
    items = make([other, row, [NAN], row, 5])
    for needle in (row, other, [NAN], [9], 5, (1,)):
        assert searching(items, "count")(needle) == items.count(needle)
        for args in ((), (2,), (-3,), (1, 3), (0, -1)):
            try:
                expected = items.index(needle, *args)
            except ValueError:
                with pytest.raises(ValueError):
                    searching(items, "index")(needle, *args)
            else:
                assert searching(items, "index")(needle, *args) == expected
    if make is list:
        copy = list(items)
        searching(copy, "remove")(row)
        expected = list(items)
        expected.remove(row)
        assert copy == expected
        with pytest.raises(ValueError):
            searching(copy, "remove")([9])


def test_sorts_and_extremes_of_deep_items_answer_as_cpython_does():
    from sandbox.guards.builtins import safe_max
    from sandbox.guards.builtins import safe_min
    from sandbox.guards.builtins import safe_sorted

    deep = [[3, [1]], [1, [2, 0]], [1, [2]], list(range(100)), list(range(99)) + [200], [0] * 70]
    assert safe_sorted(deep) == sorted(deep)
    assert safe_sorted(deep, reverse=True) == sorted(deep, reverse=True)
    assert safe_min(deep) == min(deep) and safe_max(deep) == max(deep)
    assert safe_max(*deep) == max(*deep) and safe_min([], default=7) == 7
    assert safe_min([3, 1, 2]) == 1 and safe_max([(1, 'a'), (2, 'b')]) == (2, 'b')
    assert safe_max(deep, key=len) == max(deep, key=len)
