"""``yaml`` for tenants: safe loading and dumping only (``requests`` is
:mod:`sandbox.facades.outbound`: outbound HTTP through the egress proxy).

``yaml`` is PyYAML's safe subset: ``safe_load``/``safe_dump``, and ``load``/
``dump`` that accept only the safe loader and dumper (``Loader``,
``CLoader``, ``Dumper``... all stand for the safe ones, so code written
for full PyYAML runs and gets safe behaviour). Input is capped at
:data:`MAX_YAML_BYTES` (PyYAML's pure-Python parser does not tick the
budget; the cap bounds how long one call can run).
"""

from __future__ import annotations

from sandbox import guards
from sandbox import limits
from sandbox.guards.declared import declared
from sandbox.guards import SizeLimitError

try:
    import yaml as _yaml
except ImportError:  # PyYAML is a dependency; this is for odd installs
    _yaml = None
else:
    from sandbox.guards.declared import declare

    declare(_yaml.Mark, "name line column buffer pointer get_snippet")

    class _TickingConstructor:
        """The safe constructor, ticking: merge keys (``<<: *big``) make it
        super-linear in its input, and it never ticks by itself (issue 23)."""

        def flatten_mapping(self, node):
            limits.tick(1 + len(node.value) // 4)  # a loop over every pair
            return super().flatten_mapping(node)

        def construct_object(self, node, deep=False):
            limits.tick()
            return super().construct_object(node, deep)

    class _TickingLoader(_TickingConstructor, getattr(_yaml, "CSafeLoader", None) or _yaml.SafeLoader):
        """libyaml's parser, for small documents: it composes the whole
        document in one C call (0.65 ms a KB, none of it ticking)."""

    class _TickingPyLoader(_TickingConstructor, _yaml.SafeLoader):
        """PyYAML's pure-Python parser, for bigger documents: slower, but it
        ticks as it reads and composes."""

        _reads = 0

        def forward(self, length=1):
            self._reads += 1
            if not self._reads & 63:
                limits.tick(8)
            return super().forward(length)

        def compose_node(self, parent, index):
            limits.tick()
            return super().compose_node(parent, index)

    class _TickingDumper(getattr(_yaml, "CSafeDumper", None) or _yaml.SafeDumper):
        """The safe dumper, whose Python representer ticks for every value."""

        def represent_data(self, data):
            limits.tick()
            return super().represent_data(data)

#: Largest YAML text libyaml's parser reads (one C call composes it all).
MAX_C_YAML_BYTES = 32 * 1024
#: Largest YAML text one call parses.
MAX_YAML_BYTES = 2 * 2**20


@declared()
class SafeLoader:
    """Stands for ``yaml.SafeLoader`` (pass it as ``Loader=``)."""


@declared()
class SafeDumper:
    """Stands for ``yaml.SafeDumper`` (pass it as ``Dumper=``)."""


def build_yaml(ctx):
    try:
        import yaml
    except ImportError:  # PyYAML is a dependency; this is for odd installs
        yaml = None

    def _checked(stream):
        if yaml is None:
            raise ImportError("yaml is not installed on this server")
        if not isinstance(stream, (str, bytes)) and guards.guarded_hasattr(stream, "read"):
            stream = guards.guarded_getattr(stream, "read")()
        if isinstance(stream, (str, bytes)) and len(stream) > MAX_YAML_BYTES:
            raise SizeLimitError(f"YAML text over {MAX_YAML_BYTES} bytes")
        if not isinstance(stream, (str, bytes)):
            raise TypeError("yaml reads a str, bytes or an open file")
        return stream

    # libyaml's C loader for small documents (ten times faster, but one C
    # call composes the whole document); the ticking pure-Python one above.
    def loader(text):
        return _TickingLoader if len(text) <= MAX_C_YAML_BYTES else _TickingPyLoader

    def safe_load(stream):
        text = _checked(stream)
        return yaml.load(text, Loader=loader(text))

    def safe_load_all(stream):
        text = _checked(stream)
        return list(guards.TickingIter(yaml.load_all(text, Loader=loader(text))))

    def load(stream, Loader=None):
        if Loader not in (None, "safe", SafeLoader):
            raise ValueError("only the safe loader is available: yaml.load(text, Loader=yaml.SafeLoader)")
        return safe_load(stream)

    def safe_dump(data, stream=None, **kwargs):
        dumper = kwargs.pop("Dumper", None)
        if dumper not in (None, SafeDumper):
            raise ValueError("only the safe dumper is available: yaml.dump(data, Dumper=yaml.SafeDumper)")
        guards.check_allocation(4 * guards.text_size(data, 2**62), "yaml.dump()")
        text = yaml.dump(data, Dumper=_TickingDumper, **kwargs)
        if stream is not None:
            guards.guarded_getattr(stream, "write")(text)
            return None
        return text

    table = {
        "safe_load": safe_load,
        "safe_load_all": safe_load_all,
        "load": load,
        "full_load": safe_load,
        "safe_dump": safe_dump,
        "dump": safe_dump,
        "SafeLoader": SafeLoader,
        "FullLoader": SafeLoader,
        "Loader": SafeLoader,
        "CSafeLoader": SafeLoader,
        "CLoader": SafeLoader,
        "SafeDumper": SafeDumper,
        "Dumper": SafeDumper,
        "CDumper": SafeDumper,
        "CSafeDumper": SafeDumper,
        "YAMLError": yaml.YAMLError if yaml is not None else ValueError,
    }
    return table
