"""Facades for numbers: math, random, decimal, fractions, statistics."""

from __future__ import annotations

import decimal
import fractions
import math
import random
import statistics

from sandbox import guards
from sandbox.facades.base import cap
from sandbox.facades.base import pick
from sandbox.guards import TickingIter
from sandbox.guards import guarded_iter
from sandbox.guards.counts import exact_int
from sandbox.guards.counts import is_count
from sandbox.guards.declared import CLASS_GUARDS
from sandbox.guards.declared import METHOD_GUARDS
from sandbox.guards.declared import declare_values
from sandbox.guards.declared import declared
from sandbox import limits

declare_values(decimal.Decimal, decimal.Context, fractions.Fraction, statistics.NormalDist)


def build_math(ctx):
    table = {
        name: getattr(math, name)
        for name in dir(math)
        if not name.startswith("_")
    }

    def factorial(n):
        return math.factorial(cap(n, 20_000, "factorial argument"))

    def comb(n, k):
        return math.comb(cap(n, 20_000, "comb argument"), k)

    def perm(n, k=None):
        return math.perm(cap(n, 20_000, "perm argument"), k)

    def prod(iterable, *, start=1):
        # Each product through the * guard: a product of big integers grows
        # past MAX_INT_BITS in one C call otherwise (1.5 GB, issue 23).
        result = start
        for value in guarded_iter(iterable):
            result = guards.guarded_mul(result, value)
        return result

    def _to_int(func):
        def wrapped(x):
            guards.check_decimal(x)
            return func(x)

        wrapped.__name__ = func.__name__
        return wrapped

    def lcm(*integers):
        # Each step multiplies: the result can grow past MAX_INT_BITS.
        if sum(guards.operators._int_bits(i) for i in integers) > guards.MAX_INT_BITS:
            raise guards.SizeLimitError("lcm() would build too large an integer")
        return math.lcm(*integers)

    table.update(factorial=factorial, comb=comb, perm=perm, prod=prod, lcm=lcm,
                 floor=_to_int(math.floor), ceil=_to_int(math.ceil), trunc=_to_int(math.trunc))
    return table


class _Bounded:
    """The methods of ``random.Random`` that build by a caller's number or
    loop in Python without ticking, bounded (mixed into both generators)."""

    def randbytes(self, n):
        if is_count(n):
            n = exact_int(n)
            guards.check_allocation(n, "randbytes()")
        return super().randbytes(n)

    def getrandbits(self, k):
        return super().getrandbits(cap(k, guards.MAX_INT_BITS, "getrandbits size"))

    def choices(self, population, weights=None, *, cum_weights=None, k=1):
        if is_count(k):
            k = exact_int(k)
            guards.check_allocation(k * 8, "choices()")
        return super().choices(population, weights, cum_weights=cum_weights, k=k)

    def sample(self, population, k, *, counts=None):
        if is_count(k):
            k = exact_int(k)
            guards.check_allocation(k * 8, "sample()")
        return super().sample(population, k, counts=counts)

    def shuffle(self, x):
        """CPython's Fisher-Yates (the same order for the same seed), ticking
        every 64 swaps."""
        randbelow = self._randbelow
        for i in reversed(range(1, len(x))):
            if not i & 63:
                limits.tick(16)
            j = randbelow(i + 1)
            x[i], x[j] = x[j], x[i]


_RANDOM = ("random randint randrange choice choices shuffle sample uniform gauss seed getstate "
           "setstate getrandbits randbytes normalvariate lognormvariate expovariate "
           "vonmisesvariate gammavariate triangular betavariate paretovariate weibullvariate VERSION")


@declared(_RANDOM)
class Random(_Bounded, random.Random):
    """``random.Random``, bounded (:class:`_Bounded`)."""


@declared(_RANDOM)
class SystemRandom(_Bounded, random.SystemRandom):
    """``random.SystemRandom``, bounded (:class:`_Bounded`)."""


def build_random(ctx):
    rng = ctx.random
    table = {name: getattr(rng, name) for name in _RANDOM.split() if name != "VERSION"}
    table.update(Random=Random, SystemRandom=SystemRandom)
    return table


#: Largest precision of a decimal context.
MAX_DECIMAL_PRECISION = 1000


def build_decimal(ctx):
    # getcontext/setcontext/localcontext are left out: the context is per
    # thread, and every greenlet of every tenant shares the thread.
    def Context(*args, **kwargs):
        prec = kwargs.get("prec", args[0] if args else None)
        # ln/exp/power are super-linear in the precision: at 10,000 digits
        # one call ran 7 s, at 1,000 it runs 16 ms.
        prec = cap(prec, MAX_DECIMAL_PRECISION, "decimal precision")
        if prec is not None:
            if args:
                args = (prec, *args[1:])
            else:
                kwargs["prec"] = prec
        context = decimal.Context(*args, **kwargs)
        context.Emax = min(context.Emax, guards.MAX_DECIMAL_EXPONENT)
        context.Emin = max(context.Emin, -guards.MAX_DECIMAL_EXPONENT)
        return context

    def make_decimal(value="0", context=None):
        result = decimal.Decimal(value, context)
        guards.check_decimal(result)
        return result

    table = pick(
        decimal,
        "DecimalException InvalidOperation DivisionByZero Overflow "
        "Underflow Inexact Rounded Subnormal Clamped FloatOperation "
        "ROUND_UP ROUND_DOWN ROUND_CEILING ROUND_FLOOR ROUND_HALF_UP "
        "ROUND_HALF_DOWN ROUND_HALF_EVEN ROUND_05UP",
    )
    table["Context"] = Context
    table["Decimal"] = guards.TypeGuard(decimal.Decimal, make_decimal)
    limit_shared_decimal_context()
    return table


def limit_shared_decimal_context() -> None:
    """Bound the exponent of the decimal context of this thread, which every
    greenlet (every tenant) shares, so arithmetic cannot build a Decimal that
    is slow to turn into an int. Tenants cannot reach the context itself."""
    context = decimal.getcontext()
    context.Emax = min(context.Emax, guards.MAX_DECIMAL_EXPONENT)
    context.Emin = max(context.Emin, -guards.MAX_DECIMAL_EXPONENT)


def build_fractions(ctx):
    fraction_text_bounded()
    return {"Fraction": fractions.Fraction}


def fraction_text_bounded() -> None:
    """A Fraction made from text (``Fraction("1e-30000000")``) computes
    ``10 ** -exponent`` in one C call: 33 s on the hub for thirteen
    characters (round 16). Its exponent is bounded like a Decimal's
    (:data:`guards.MAX_DECIMAL_EXPONENT` above, ``MIN_DECIMAL_EXPONENT``
    below), in ``Fraction.__new__`` for the whole process: tenant
    subclasses of ``Fraction`` are made by it too."""
    new = vars(fractions.Fraction)["__new__"].__func__
    if getattr(new, "text_bounded", False):
        return

    def __new__(cls, numerator=0, denominator=None, **kwargs):
        if denominator is None and isinstance(numerator, str):
            match = fractions._RATIONAL_FORMAT.match(numerator)
            exponent = match.group("exp") if match is not None else None
            if exponent is not None and not (
                    -guards.MIN_DECIMAL_EXPONENT <= int(exponent) <= guards.MAX_DECIMAL_EXPONENT):
                raise guards.SizeLimitError(
                    f"a Fraction's exponent is from -{guards.MIN_DECIMAL_EXPONENT} to "
                    f"{guards.MAX_DECIMAL_EXPONENT} here")
        return new(cls, numerator, denominator, **kwargs)

    __new__.text_bounded = True
    fractions.Fraction.__new__ = staticmethod(__new__)


def _normal_samples(dist, name):
    def samples(n, *, seed=None):
        # A list of n by a Python loop that never ticks: sized, then ticking.
        n = exact_int(n) if is_count(n) else n
        guards.check_allocation(32 * n if type(n) is int else 0, "NormalDist.samples()")
        gauss = Random(seed).gauss
        mu, sigma = dist.mean, dist.stdev
        return [gauss(mu, sigma) for _ in TickingIter(range(n))]

    return samples


def _normal_quantiles(dist, name):
    def quantiles(n=4):
        n = exact_int(n) if is_count(n) else n
        guards.check_allocation(8 * n if type(n) is int else 0, "NormalDist.quantiles()")
        return [dist.inv_cdf(i / n) for i in TickingIter(range(1, n))]

    return quantiles


def _from_samples(cls, name):
    from_samples = getattr(cls, name)
    return lambda data: from_samples(TickingList(guarded_iter(data)))


METHOD_GUARDS[(statistics.NormalDist, "samples")] = _normal_samples
METHOD_GUARDS[(statistics.NormalDist, "quantiles")] = _normal_quantiles
METHOD_GUARDS[(statistics.NormalDist, "from_samples")] = _from_samples
CLASS_GUARDS[(statistics.NormalDist, "from_samples")] = _from_samples


class TickingList(list):
    """A list whose iteration ticks the budget (for pure-Python callees)."""

    def __iter__(self):
        return TickingIter(list.__iter__(self))


#: Largest common denominator (in bits) of the data of a ``statistics``
#: function that sums exactly (at 64 Kbit, variance over 4,300 primes held the
#: process 0.23 s between ticks).
MAX_STATISTICS_BITS = 32_768

#: The functions of ``statistics`` that sum exactly (``_sum``, ``_ss``), and
#: the name of their second argument: ``harmonic_mean`` sums ``w / x`` (a
#: Fraction's numerator becomes a denominator, and so does its weights'
#: denominators), the variances ``(x - c) ** 2`` for the mean ``c`` given.
_EXACT_SUMS = {"mean": None, "harmonic_mean": "weights", "pvariance": "mu", "variance": "xbar",
               "pstdev": "mu", "stdev": "xbar"}
_EXACT_TYPES = (int, float, fractions.Fraction, decimal.Decimal)


def _exact_ratio(item, name: str):
    """``item.as_integer_ratio()`` as statistics reads it, or None for an
    infinity or a NaN; refused for anything but a number whose method is
    its type's own (statistics believes what that method says)."""
    kind = next((t for t in _EXACT_TYPES if isinstance(item, t)), None)
    if kind is None:
        raise TypeError(f"can't convert type '{type(item).__name__}' to numerator/denominator")
    if getattr(type(item), "as_integer_ratio", None) is not kind.as_integer_ratio:
        raise TypeError(f"statistics.{name}() takes numbers whose as_integer_ratio is "
                        f"{kind.__name__}'s own here")
    try:
        return kind.as_integer_ratio(item)
    except (OverflowError, ValueError):
        return None


def _check_exact_data(name: str, items, reciprocals: bool, extra=()) -> None:
    """Before a ``statistics`` function that sums its data exactly: the
    common denominator the sum builds (of ``items``, and of the ``extra``
    values its second argument gives) fits :data:`MAX_STATISTICS_BITS`.
    statistics adds one ``Fraction`` per distinct denominator in a loop
    that never ticks, each addition a multiplication of the growing total:
    ``mean`` of 800 ``Fraction(1, p ** 300)`` held the process 10 s (round
    16). The common denominator is computed here, ticking."""
    common = 1
    seen = {1}
    for item, flip in [*((item, reciprocals) for item in items), *((x, False) for x in extra)]:
        limits.tick()
        ratio = _exact_ratio(item, name)
        if ratio is None:
            continue
        numerator, denominator = ratio
        # 1 / x is a float for an int or a float x, a Decimal in its context.
        flips = flip and isinstance(item, fractions.Fraction)
        for part in (denominator, abs(numerator)) if flips else (denominator,):
            if part in seen:
                continue
            seen.add(part)
            common = common // math.gcd(common, part) * part if part else common
            if common.bit_length() > MAX_STATISTICS_BITS:
                raise guards.SizeLimitError(
                    f"statistics.{name}() sums its data exactly, and this data's common "
                    f"denominator is over {MAX_STATISTICS_BITS} bits here")


def build_statistics(ctx):
    names = (
        "mean fmean geometric_mean harmonic_mean median median_low median_high "
        "median_grouped mode multimode pstdev pvariance stdev variance quantiles "
        "correlation covariance linear_regression"
    ).split()
    # statistics is pure Python that never ticks; its data is handed over
    # as a list whose iteration ticks, so long computations stop at the
    # request's limits.

    def ticking(name, func):
        second = _EXACT_SUMS.get(name, False)

        def call(data, *args, **kwargs):
            items = TickingList(guarded_iter(data))
            if second is not False:
                extra = ()
                if second is not None and (args or second in kwargs):
                    given = args[0] if args else kwargs[second]
                    if second == "weights" and given is not None:
                        given = TickingList(guarded_iter(given))
                        args, kwargs = ((given, *args[1:]), kwargs) if args else \
                            (args, {**kwargs, second: given})
                        extra = given
                    elif given is not None:
                        extra = (given,)
                _check_exact_data(name, items, second == "weights", extra)
            return func(items, *args, **kwargs)

        call.__name__ = name
        return call

    fraction_text_bounded()  # statistics hands back Fractions
    table = {name: ticking(name, getattr(statistics, name)) for name in names}
    table["StatisticsError"] = statistics.StatisticsError
    table["NormalDist"] = statistics.NormalDist
    return table
