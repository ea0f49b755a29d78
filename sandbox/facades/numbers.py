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
    return {"Fraction": fractions.Fraction}


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


def build_statistics(ctx):
    names = (
        "mean fmean geometric_mean harmonic_mean median median_low median_high "
        "median_grouped mode multimode pstdev pvariance stdev variance quantiles "
        "correlation covariance linear_regression"
    ).split()
    # statistics is pure Python that never ticks; its data is handed over
    # as a list whose iteration ticks, so long computations stop at the
    # request's limits.
    table = {}
    for name in names:
        func = getattr(statistics, name)
        table[name] = (
            lambda f: lambda data, *args, **kwargs: f(TickingList(guarded_iter(data)), *args,
                                                      **kwargs)
        )(func)
    table["StatisticsError"] = statistics.StatisticsError
    table["NormalDist"] = statistics.NormalDist
    return table
