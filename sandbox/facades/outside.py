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
from sandbox.facades.base import ModuleFacade
from sandbox.guards import SizeLimitError

#: Largest YAML text one call parses.
MAX_YAML_BYTES = 2 * 2**20


def build_yaml(ctx):
    try:
        import yaml
    except ImportError:  # PyYAML is a dependency; this is for odd installs
        yaml = None

    def _checked(stream):
        if yaml is None:
            raise ImportError("yaml is not installed on this server")
        if hasattr(stream, "read"):
            stream = stream.read()
        if isinstance(stream, (str, bytes)) and len(stream) > MAX_YAML_BYTES:
            raise SizeLimitError(f"YAML text over {MAX_YAML_BYTES} bytes")
        if not isinstance(stream, (str, bytes)):
            raise TypeError("yaml reads a str, bytes or an open file")
        return stream

    # libyaml's C loader when PyYAML has it: the pure-Python parser never
    # ticks, and is ten times slower on the same text.
    fast = getattr(yaml, "CSafeLoader", None) or getattr(yaml, "SafeLoader", None)

    def safe_load(stream):
        return yaml.load(_checked(stream), Loader=fast)

    def safe_load_all(stream):
        return list(yaml.load_all(_checked(stream), Loader=fast))

    def load(stream, Loader=None):
        if Loader not in (None, "safe", SafeLoader):
            raise ValueError("only the safe loader is available: yaml.load(text, Loader=yaml.SafeLoader)")
        return safe_load(stream)

    def safe_dump(data, stream=None, **kwargs):
        dumper = kwargs.pop("Dumper", None)
        if dumper not in (None, SafeDumper):
            raise ValueError("only the safe dumper is available: yaml.dump(data, Dumper=yaml.SafeDumper)")
        guards.check_allocation(4 * guards.text_size(data, 2**62), "yaml.dump()")
        text = yaml.safe_dump(data, **kwargs)
        if stream is not None:
            stream.write(text)
            return None
        return text

    class SafeLoader:
        """Stands for ``yaml.SafeLoader`` (pass it as ``Loader=``)."""

    class SafeDumper:
        """Stands for ``yaml.SafeDumper`` (pass it as ``Dumper=``)."""

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
