"""``os``, ``os.path``, ``sys`` and ``logging`` as a function expects them,
reaching only the tenant's own files, environment and log.

* ``os.environ``/``os.getenv``: the tenant's ``[env]`` only (a copy per
  tenant runtime; changing it changes nothing else).
* ``os.path`` and ``os.listdir``/``scandir``/``walk``/``makedirs``/``remove``
  ...: names are mapped by :class:`sandbox.facades.files.TenantFiles`
  (``/app`` read, ``/data`` write). ``os.getcwd()`` is ``/app``.
* ``sys``: version facts, ``stdout``/``stderr`` that write to the tenant's
  log, an empty ``argv``; no ``modules``, ``path`` or ``exc_info``.
* ``logging``: loggers that write to the tenant's log with their level;
  handlers and formatters are accepted and change nothing (there is one
  destination).
"""

from __future__ import annotations

import os
import posixpath
import sys

from sandbox import guards
from sandbox.guards.declared import declare_values
from sandbox.guards.declared import declared

declare_values(type(sys.version_info))
from sandbox.facades.base import ModuleFacade
from sandbox.facades.files import APP
from sandbox.facades.files import is_host_entry
from sandbox.facades.files import QuotaExceeded

_PURE_PATH = "join dirname basename split splitext normpath isabs commonprefix commonpath sep"


#: Most text the pure path functions take (their loops are pure Python;
#: a path is at most 4096 bytes anyway).
MAX_PATH_TEXT = 2**16


def _bounded_paths(func):
    def bounded(*args, **kwargs):
        total = 0
        for arg in args:
            if isinstance(arg, (str, bytes)):
                total += len(arg) + 1
            elif isinstance(arg, (list, tuple)):
                total += sum(len(a) + 1 if isinstance(a, (str, bytes)) else 1
                             for a in guards.guarded_iter(arg))
        if total > MAX_PATH_TEXT:
            raise guards.SizeLimitError(f"os.path.{func.__name__}() takes at most "
                                        f"{MAX_PATH_TEXT} characters of paths here")
        return func(*args, **kwargs)

    bounded.__name__ = func.__name__
    return bounded


def build_os_path(ctx):
    files = ctx.files
    table = {name: _bounded_paths(getattr(posixpath, name)) if callable(getattr(posixpath, name))
             else getattr(posixpath, name) for name in _PURE_PATH.split()}

    def _exists(name, test):
        try:
            return test(files.resolve(name))
        except (PermissionError, TypeError, ValueError):
            return False

    table.update({
        "exists": lambda p: _exists(p, os.path.exists),
        "isfile": lambda p: _exists(p, os.path.isfile),
        "isdir": lambda p: _exists(p, os.path.isdir),
        "islink": lambda p: False,
        "getsize": files.in_tenant_names(lambda p: os.path.getsize(files.resolve(p))),
        "getmtime": files.in_tenant_names(lambda p: os.path.getmtime(files.resolve(p))),
        "abspath": lambda p: posixpath.normpath(posixpath.join(APP, p)),
        "realpath": lambda p, **kw: posixpath.normpath(posixpath.join(APP, p)),
        "expanduser": lambda p: p,
    })
    return table


@declared("name path is_dir is_file is_symlink")
class _DirEntry:
    """What ``os.scandir`` yields: names, not host paths."""

    __slots__ = ("name", "path", "_host")

    def __init__(self, name, path, host):
        self.name = name
        self.path = path
        self._host = host

    def is_dir(self, follow_symlinks=True):
        return os.path.isdir(self._host) and not os.path.islink(self._host)

    def is_file(self, follow_symlinks=True):
        return os.path.isfile(self._host) and not os.path.islink(self._host)

    def is_symlink(self):
        return False

    def __repr__(self):
        return f"<DirEntry {self.name!r}>"


def _in_data(files, host: str) -> bool:
    root = files.data_root
    return root is not None and (host == root or host.startswith(root + os.sep))


def build_os(ctx):
    files = ctx.files
    environ = ctx.env  # the runtime's own copy (text keys and values)

    def getenv(key, default=None):
        return environ.get(key, default)

    def listdir(path="."):
        host = files.resolve(path)
        names = sorted(n for n in os.listdir(host)
                       if not os.path.islink(os.path.join(host, n))
                       and not (_in_data(files, host)
                                and is_host_entry(n, host == files.data_root)))
        guards.check_allocation(len(names) * 64, "os.listdir()")
        return names

    def scandir(path="."):
        base = posixpath.normpath(posixpath.join(APP, path))
        host = files.resolve(path)
        return guards.TickingIter(iter([
            _DirEntry(name, posixpath.join(base, name), os.path.join(host, name))
            for name in listdir(path)
        ]))

    def walk(top=".", topdown=True, onerror=None, followlinks=False):
        base = posixpath.normpath(posixpath.join(APP, top))
        pending = [base]
        while pending:
            folder = pending.pop(0)
            try:
                entries = list(scandir(folder))
            except OSError as exc:
                if onerror is not None:
                    onerror(files.tenant_error(exc))
                continue
            dirs = [e.name for e in entries if e.is_dir()]
            names = [e.name for e in entries if e.is_file()]
            yield folder, dirs, names
            pending.extend(posixpath.join(folder, d) for d in dirs)

    def makedirs(name, mode=0o777, exist_ok=False):
        os.makedirs(files.resolve(name, write=True), 0o700, exist_ok)

    def mkdir(name, mode=0o777):
        os.mkdir(files.resolve(name, write=True), 0o700)

    def remove(name):
        os.remove(files.resolve(name, write=True, create=False))

    def rmdir(name):
        os.rmdir(files.resolve(name, write=True, create=False))

    def rename(src, dst):
        os.rename(files.resolve(src, write=True, create=False), files.resolve(dst, write=True))

    def urandom(size):
        size = guards.exact_int(size)
        guards.check_allocation(size, "os.urandom()")
        return os.urandom(size)

    @declared("st_size st_mtime st_mode")
    class _Stat:
        __slots__ = ("st_size", "st_mtime", "st_mode")

        def __init__(self, result):
            self.st_size = result.st_size
            self.st_mtime = result.st_mtime
            self.st_mode = result.st_mode

    def stat(name):
        return _Stat(os.stat(files.resolve(name)))

    # Every OSError names files as the tenant does, not by host path.
    named = files.in_tenant_names
    return {
        "environ": environ,
        "getenv": getenv,
        "path": ModuleFacade("os.path", build_os_path(ctx)),
        "getcwd": lambda: APP,
        "listdir": named(listdir),
        "scandir": named(scandir),
        "walk": lambda *a, **k: guards.TickingIter(walk(*a, **k)),
        "makedirs": named(makedirs),
        "mkdir": named(mkdir),
        "remove": named(remove),
        "unlink": named(remove),
        "rmdir": named(rmdir),
        "rename": named(rename),
        "replace": named(rename),
        "stat": named(stat),
        "urandom": urandom,
        "sep": "/",
        "linesep": "\n",
        "curdir": ".",
        "pardir": "..",
        "name": "posix",
        "error": OSError,
        "QuotaExceeded": QuotaExceeded,
    }


#: Longest line the tenant's streams and loggers pass on.
MAX_LINE = 8192


@declared("write flush isatty")
class _LogStream:
    """``sys.stdout``/``sys.stderr``: lines go to the tenant's log."""

    __slots__ = ("_log", "_level", "_partial")

    def __init__(self, log, level):
        self._log = log
        self._level = level
        self._partial = ""

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        text = str.__str__(text)
        lines = (self._partial[-MAX_LINE:] + text).split("\n")
        self._partial = lines.pop()[-MAX_LINE:]
        for line in lines:
            self._log(line if len(line) <= MAX_LINE else line[:MAX_LINE] + "...(cut)", self._level)
        return len(text)

    def flush(self):
        if self._partial:
            self._log(self._partial, self._level)
            self._partial = ""

    def isatty(self):
        return False


def build_future(ctx):
    """``__future__``: the features' names, so ``from __future__ import
    annotations`` (a compiler directive the compiler has already followed)
    imports. Each name is the feature's compiler flag, an inert int, not
    the host's ``_Feature`` object."""
    import __future__

    return {name: getattr(__future__, name).compiler_flag
            for name in __future__.all_feature_names}


def build_sys(ctx):
    return {
        "version": sys.version,
        # The interpreter's own named tuple (immutable; its type cannot be
        # instantiated): `sys.version_info >= (3, 8)` and `.major` both work.
        "version_info": sys.version_info,
        "maxsize": sys.maxsize,
        "byteorder": sys.byteorder,
        "platform": sys.platform,
        "implementation_name": sys.implementation.name,
        "argv": [],
        "stdout": _LogStream(ctx.log_line, "info"),
        "stderr": _LogStream(ctx.log_line, "error"),
        "getdefaultencoding": lambda: "utf-8",
        "getrecursionlimit": sys.getrecursionlimit,
    }


LEVELS = {"CRITICAL": 50, "FATAL": 50, "ERROR": 40, "WARNING": 30, "WARN": 30, "INFO": 20,
          "DEBUG": 10, "NOTSET": 0}
_LEVEL_NAMES = {50: "critical", 40: "error", 30: "warning", 20: "info", 10: "debug", 0: "debug"}


class _Cut:
    """A logging argument: ``%s``/``%r`` give its text cut for the log, and
    ``%d``/``%f`` its number."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __str__(self):
        return guards.safe_str(self.value, MAX_LINE)

    def __repr__(self):
        return guards.safe_repr(self.value, MAX_LINE)

    def __int__(self):
        return int(self.value)

    def __float__(self):
        return float(self.value)

    def __index__(self):
        return self.value.__index__()


@declared("name level handlers propagate disabled setLevel isEnabledFor getEffectiveLevel log "
          "debug info warning warn error exception critical fatal addHandler removeHandler "
          "hasHandlers getChild")
class TenantLogger:
    """A ``logging.Logger`` whose records go to the tenant's log."""

    __slots__ = ("name", "level", "handlers", "propagate", "disabled", "_sink")

    def __init__(self, name, sink):
        self.name = name
        self.level = 0
        self.handlers = []
        self.propagate = True
        self.disabled = False
        self._sink = sink

    def setLevel(self, level):
        self.level = LEVELS.get(level, 0) if isinstance(level, str) else int(level)

    def isEnabledFor(self, level):
        return level >= (self.level or 0) and not self.disabled

    def getEffectiveLevel(self):
        return self.level

    def log(self, level, msg, *args, exc_info=None, stack_info=False, extra=None, **kwargs):
        if not self.isEnabledFor(level):
            return
        # logging formats msg % args; both are the tenant's values, sized
        # and cut before the host builds a line of them (issue 23).
        text = guards.safe_str(msg, MAX_LINE)
        if args:
            if len(args) == 1 and isinstance(args[0], dict) and args[0]:
                args = args[0]
            values = {k: _Cut(v) for k, v in args.items()} if isinstance(args, dict) \
                else tuple(_Cut(v) for v in args)
            text = guards.guarded_mod(text, values)
        if exc_info:
            current = sys.exc_info()[1] if exc_info is True else exc_info
            if isinstance(current, BaseException):
                text += "\n" + guards.exception_text(current, MAX_LINE)
        prefix = f"{guards.safe_str(self.name, 200)}: " if self.name and self.name != "root" else ""
        if len(text) > MAX_LINE:
            text = text[:MAX_LINE] + "...(cut)"
        self._sink(prefix + text, _LEVEL_NAMES.get(level // 10 * 10, "info"))

    def debug(self, msg, *args, **kwargs):
        self.log(10, msg, *args, **kwargs)

    def info(self, msg, *args, **kwargs):
        self.log(20, msg, *args, **kwargs)

    def warning(self, msg, *args, **kwargs):
        self.log(30, msg, *args, **kwargs)

    warn = warning

    def error(self, msg, *args, **kwargs):
        self.log(40, msg, *args, **kwargs)

    def exception(self, msg, *args, exc_info=True, **kwargs):
        self.log(40, msg, *args, exc_info=exc_info, **kwargs)

    def critical(self, msg, *args, **kwargs):
        self.log(50, msg, *args, **kwargs)

    fatal = critical

    def addHandler(self, handler):
        self.handlers.append(handler)

    def removeHandler(self, handler):
        if handler in self.handlers:
            self.handlers.remove(handler)

    def hasHandlers(self):
        return True

    def getChild(self, suffix):
        return TenantLogger(f"{self.name}.{suffix}", self._sink)

    def __repr__(self):
        return f"<Logger {self.name}>"


@declared("level formatter setLevel setFormatter addFilter", dynamic=True)
class Handler:
    """Accepted for compatibility; the tenant's log is the one destination."""

    def __init__(self, *args, **kwargs):
        self.level = 0
        self.formatter = None

    def setLevel(self, level):
        self.level = level

    def setFormatter(self, formatter):
        self.formatter = formatter

    def addFilter(self, f):
        pass


@declared("fmt datefmt", dynamic=True)
class Formatter:
    def __init__(self, fmt=None, datefmt=None, style="%", *args, **kwargs):
        self.fmt = fmt
        self.datefmt = datefmt


def build_logging(ctx):
    loggers = {}

    def getLogger(name=None):
        name = "root" if not name else guards.safe_str_builtin(name)
        logger = loggers.get(name)
        if logger is None:
            if len(loggers) > 1000:
                raise guards.SizeLimitError("more than 1000 loggers")
            logger = loggers[name] = TenantLogger(name, ctx.log_line)
        return logger

    root = getLogger()
    table = {
        "getLogger": getLogger,
        "basicConfig": lambda *a, **k: root.setLevel(k["level"]) if "level" in k else None,
        "Logger": TenantLogger,
        "Handler": Handler,
        "StreamHandler": Handler,
        "FileHandler": Handler,
        "NullHandler": Handler,
        "Formatter": Formatter,
        "getLevelName": lambda level: {v: k for k, v in LEVELS.items()}.get(level, f"Level {level}"),
        "disable": lambda level=50: None,
        "captureWarnings": lambda capture: None,
    }
    for method in ("debug", "info", "warning", "warn", "error", "exception", "critical", "log"):
        table[method] = getattr(root, method)
    table.update(LEVELS)
    return table
