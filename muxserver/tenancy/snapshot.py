"""Every registered version in one pickle, field by field.

A serving process starts with every tenant's spec, sent by the supervisor
in one message. Pickled one by one, a slotted spec travels as a dict of its
fields, and pickle keeps every object it read until the load ends (its
memo): 10,000 tenants left 10,000 such dicts to free at once, scattered
among the specs that stay, and the process kept the memory they took
(issue 26: 4.5 MB of 5,000 hello tenants' RSS). By field, the message holds
one list per field instead, whatever the number of tenants, and equal
values (a shared route table, an interned name) still travel once. The
specs' contents (:class:`~muxserver.tenancy.spec.SpecContent`) travel the
same way, each distinct one once: tenants that share one on this side
share it on the other.
"""

from __future__ import annotations

import dataclasses

from muxserver.tenancy.spec import OWN_FIELDS
from muxserver.tenancy.spec import SpecContent
from muxserver.tenancy.spec import TenantSpec

#: A spec's parts (:meth:`TenantSpec.parts`) but its content, which travels
#: as an index into the distinct contents.
_SPEC_PARTS = ("name", *OWN_FIELDS)
_CONTENT_FIELDS = tuple(f.name for f in dataclasses.fields(SpecContent))


class SpecSnapshot:
    """``specs`` as they travel; unpickled, it is the list of specs again."""

    __slots__ = ("specs",)

    def __init__(self, specs):
        self.specs = list(specs)

    def __reduce__(self):
        contents, numbers = [], {}
        index = [numbers.setdefault(id(spec.content), len(numbers)) for spec in self.specs]
        for spec in self.specs:
            if numbers[id(spec.content)] == len(contents):
                contents.append(spec.content)
        columns = tuple([getattr(spec, name) for spec in self.specs] for name in _SPEC_PARTS)
        content_columns = tuple([getattr(c, name) for c in contents] for name in _CONTENT_FIELDS)
        return _specs_from_columns, (_SPEC_PARTS + _CONTENT_FIELDS, columns, index,
                                     content_columns)


def _specs_from_columns(fields: tuple[str, ...], columns: tuple[list, ...], index: list[int],
                        content_columns: tuple[list, ...]) -> list[TenantSpec]:
    """The specs a :class:`SpecSnapshot` pickled (a list, as it was sent)."""
    if fields != _SPEC_PARTS + _CONTENT_FIELDS:
        raise ValueError("a snapshot of specs from another version of the server")
    contents = [SpecContent(*values) for values in zip(*content_columns)]
    return [TenantSpec.of(*parts, contents[number]) for *parts, number in zip(*columns, index)]
