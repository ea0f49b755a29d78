"""The table of native entry points: every callable tenant code can reach,
and what bounds it.

One entry per callable, keyed by where it lives — a module's function as
``"module.name"`` (``"math.prod"``), a method by the class that defines it
(``"decimal.Decimal.ln"``, ``"builtins.str.encode"``) — saying either that
it is :data:`LINEAR` (its work and what it builds are proportional to what
the caller already holds, at most a small constant times: ``str.upper``,
``bytes.hex``), or which guard or cap it goes through: a size checked
against the request's memory budget before the C call, an input capped, a
loop made to tick, a call moved off the hub. The guards themselves are in
:mod:`sandbox.guards.natives`, the facades and the tenant API; this table
is where each is named, so that "is this call bounded, and how?" has one
answer.

``tests/units/test_natives.py`` walks everything a tenant can reach
(:mod:`tests.sandbox.reach`) and fails on any callable that has no entry
here: a new facade function, a new method of an offered class, a new
version of a library is judged when it opens a door, not after.

.. warning::
   "Linear" is about one call. A loop of linear calls is the ticks' and the
   memory budget's business; a linear call over a big input the request
   already holds still runs to its end before the next tick (sorting a
   list is the exception: it is cut into runs).
"""

from __future__ import annotations

#: The verdict of a callable whose cost is proportional to its input.
LINEAR = "linear"

#: owner -> {name: LINEAR or the guard it goes through}
NATIVES: dict[str, dict[str, str]] = {}


#: The text methods that build by a number or from many items, and their guards.
_CASE = "natives._case: 12 bytes a character unless ASCII (case mappings expand up to 3x)"
_SPLIT = "natives._split: pieces counted first (separators, whitespace, line breaks), 58 bytes each"
_SIZED_TEXT = {
    "center": "natives._sized: width against the budget", "ljust": "natives._sized",
    "rjust": "natives._sized", "zfill": "natives._sized",
    "expandtabs": "natives._sized: tabsize x length", "join": "natives._join: items summed first",
    "replace": "natives._replace: hits x growth", "translate": "natives._translate",
}


def _owner(owner: str, linear: str = "", **guarded: str) -> None:
    entry = NATIVES.setdefault(owner, {})
    entry.update(dict.fromkeys(linear.split(), LINEAR))
    entry.update(guarded)


def verdict(key: str) -> str | None:
    """The entry of ``"owner.name"``, or None when the table has none."""
    owner, _, name = key.rpartition(".")
    return NATIVES.get(owner, {}).get(name)


_owner("_blake2.blake2b",
    "copy digest hexdigest",
    update='off the hub past 1 MB (data.off_the_hub: the GIL is released)')
_owner("_blake2.blake2s",
    "copy digest hexdigest",
    update='off the hub past 1 MB (data.off_the_hub: the GIL is released)')
_owner("_hashlib.HASH",
    "copy digest hexdigest",
    update='off the hub past 1 MB (data.off_the_hub: the GIL is released)')
_owner("_hashlib.HASHXOF",
    digest='natives._xof_digest: length against the budget',
    hexdigest='natives._xof_digest')
_owner("_io.BytesIO",
    "close flush getbuffer getvalue isatty read read1 readable readinto readline "
    "seekable tell truncate writable write writelines",
    readlines='natives._stream_readlines: readline() in a loop that ticks',
    seek='natives._stream_seek: a position past the end is a size')
_owner("_io.StringIO",
    "close getvalue read readable readline seekable tell truncate writable write",
    seek='natives._stream_seek (4 bytes a character)')
_owner("_io._BufferedIOBase",
    "readinto1")
_owner("_io._IOBase",
    "close flush isatty readable seekable writable writelines",
    readlines='natives._stream_readlines')
_owner("_io._TextIOBase",
    "read readline write")
_owner("_random.Random",
    "random")
_owner("base64",
    "b16decode b16encode b64decode b64encode decodebytes encodebytes standard_b64decode "
    "standard_b64encode urlsafe_b64decode urlsafe_b64encode",
    a85decode='at most 1 MB (pure Python)',
    a85encode='at most 1 MB (pure Python)',
    b32decode='at most 1 MB (pure Python)',
    b32encode='at most 1 MB (pure Python)',
    b32hexdecode='at most 1 MB (pure Python)',
    b32hexencode='at most 1 MB (pure Python)',
    b85decode='at most 1 MB (pure Python)',
    b85encode='at most 1 MB (pure Python)')
_owner("bisect",
    "bisect bisect_left bisect_right insort insort_left insort_right")
_owner("builtins",
    "ArithmeticError AssertionError AttributeError BufferError DeprecationWarning EOFError "
    "Exception FloatingPointError ImportError IndexError KeyError LookupError MemoryError "
    "ModuleNotFoundError NameError NotImplementedError OSError OverflowError RecursionError "
    "ReferenceError RuntimeError RuntimeWarning StopIteration SyntaxError TimeoutError "
    "TypeError UnboundLocalError UnicodeDecodeError UnicodeEncodeError UnicodeError "
    "UserWarning ValueError Warning ZeroDivisionError abs bin bool callable chr classmethod "
    "complex float hash hex isinstance issubclass len next oct ord property slice "
    "staticmethod "
    "BlockingIOError BrokenPipeError BytesWarning ChildProcessError ConnectionAbortedError "
    "ConnectionError ConnectionRefusedError ConnectionResetError EncodingWarning "
    "FileExistsError FileNotFoundError FutureWarning ImportWarning IndentationError "
    "InterruptedError IsADirectoryError NotADirectoryError PendingDeprecationWarning "
    "PermissionError ProcessLookupError ResourceWarning StopAsyncIteration SyntaxWarning "
    "SystemError TabError UnicodeTranslateError UnicodeWarning EnvironmentError IOError",
    all='iterates a TickingIter (ticks)',
    any='iterates a TickingIter (ticks)',
    ascii='consume.text_of, then escaped with the size checked',
    bytearray='size checked: bytearray(n) against the memory budget; other inputs tick',
    bytes='size checked: bytes(n); codec checked (punycode/idna capped)',
    delattr='access.guarded_delattr',
    dict='C over its input; iterators tick',
    enumerate='TickingIter over ticking inputs',
    filter='TickingIter over ticking inputs',
    format='consume.guarded_format: widths bounded, text sized',
    frozenset='C over its input; iterators tick',
    getattr='the membrane (declared.entry_for)',
    hasattr='the membrane (declared.entry_for)',
    int='operators.check_decimal; str digits limited by CPython (4,300)',
    iter='TickingIter; iter(callable, sentinel) ticks per call',
    list='list(text) sized (8 bytes an item); other iterables tick',
    map='TickingIter over ticking inputs',
    max='builtins.safe_max: big or nested items through compare.ordering_key',
    min='builtins.safe_min: big or nested items through compare.ordering_key',
    object='TypeGuard(object)',
    open='files.TenantFiles.open: /app and /data only, 256 open files, reads sized',
    pow='operators.guarded_pow: MAX_INT_BITS, MAX_POWMOD_BITS',
    range='SafeRange: iteration ticks',
    repr='consume.text_of (the sized repr)',
    reversed='TickingIter',
    round='operators.check_decimal: Decimal exponents bounded',
    set='C over its input; iterators tick',
    setattr='access.guarded_setattr',
    sorted='natives.sort_in_runs: C runs of 2**15, ticking merge; big or nested items '
           'through compare.ordering_key',
    str='consume.text_of: sized first, built piece by piece past the budget',
    sum='builtins.safe_sum: each + through operators.check_add, a tick per item',
    divmod='builtins.safe_divmod: operators.check_floordiv (division work bounded)',
    super='own_objects.tenant_super: tenant objects only; reads through the membrane',
    tuple='tuple(text) sized (8 bytes an item); other iterables tick',
    type='own_objects.make_safe_type: host classes as HostType',
    zip='TickingIter over ticking inputs')
_owner("builtins.BaseException",
    "add_note with_traceback")
_owner("builtins.bytearray",
    "append capitalize clear copy count endswith find fromhex hex index insert isalnum "
    "isalpha isascii isdigit islower isspace istitle isupper lower lstrip maketrans partition "
    "pop remove removeprefix removesuffix reverse rfind rindex rpartition rstrip "
    "startswith strip swapcase title upper",
    **dict.fromkeys("split rsplit splitlines".split(), _SPLIT),
    decode='natives.check_codec',
    extend='C over its input; iterators tick',
    **_SIZED_TEXT)
_owner("builtins.bytes",
    "capitalize count endswith find fromhex hex index isalnum isalpha isascii isdigit islower "
    "isspace istitle isupper lower lstrip maketrans partition removeprefix removesuffix rfind "
    "rindex rpartition rstrip startswith strip swapcase title upper",
    **dict.fromkeys("split rsplit splitlines".split(), _SPLIT),
    decode='natives.check_codec',
    **_SIZED_TEXT)
_owner("builtins.complex",
    "conjugate")
_HASHING = 'natives._hashing: a list or tuple past 1,024 items read ticking (tuple hashes are not cached)'
_owner("builtins.dict",
    "clear copy get items keys pop popitem setdefault values",
    fromkeys=_HASHING, update=_HASHING)
_owner("builtins.dict_items",
    "isdisjoint")
_owner("builtins.dict_keys",
    "isdisjoint")
_owner("builtins.float",
    "as_integer_ratio conjugate fromhex hex is_integer")
_owner("builtins.frozenset",
    "copy",
    **dict.fromkeys("difference intersection isdisjoint issubset issuperset "
                    "symmetric_difference union".split(), _HASHING))
_owner("builtins.generator",
    "close",
    send='tenant code (ticks)',
    throw='tenant code (ticks)')
_owner("builtins.int",
    "as_integer_ratio bit_count bit_length conjugate",
    from_bytes='natives._from_bytes: MAX_INT_BITS',
    to_bytes='natives._to_bytes: length against the budget')
_SEARCH = "compare.searching: a list, tuple or dict searched for ticking per item"
_owner("builtins.list",
    "append clear copy insert pop reverse",
    count=_SEARCH, index=_SEARCH, remove=_SEARCH,
    extend='natives._list_extend: operators.sized_items (8 bytes an item); iterators tick',
    sort='natives.sort_in_runs')
_owner("builtins.mappingproxy",
    "copy get items keys values")
_owner("builtins.memoryview",
    "cast hex release tobytes toreadonly",
    tolist='natives._tolist: 8 bytes an item against the budget')
_owner("builtins.property",
    "deleter getter setter")
_owner("builtins.set",
    "add clear copy discard pop remove",
    **dict.fromkeys("difference difference_update intersection intersection_update isdisjoint "
                    "issubset issuperset symmetric_difference symmetric_difference_update "
                    "union update".split(), _HASHING))
_owner("builtins.slice",
    "indices")
_owner("builtins.str",
    "count endswith find index isalnum isalpha isascii isdecimal isdigit "
    "isidentifier islower isnumeric isprintable isspace istitle isupper lstrip "
    "maketrans partition removeprefix removesuffix rfind rindex rpartition rstrip "
    "startswith strip",
    **dict.fromkeys("capitalize casefold lower swapcase title upper".split(), _CASE),
    **dict.fromkeys("split rsplit splitlines".split(), _SPLIT),
    encode='natives.check_codec: punycode/idna at most 1,024 characters',
    format='access.SafeFormatter: fields through the membrane, sizes counted',
    format_map='access.SafeFormatter',
    **_SIZED_TEXT)
_owner("builtins.tuple",
    count=_SEARCH, index=_SEARCH)
_owner("click",
    "argument command group option pass_context",
    echo='consume.safe_str')
_owner("collections",
    "ChainMap Counter OrderedDict UserDict UserList UserString defaultdict",
    deque='C over its input; iterators tick',
    namedtuple="at most 1,024 fields (exec'd source); the class is the tenant's")
_owner("collections.ChainMap",
    "clear copy fromkeys get new_child pop popitem")
_owner("collections.Counter",
    "copy fromkeys subtract total update")
_owner("collections.OrderedDict",
    "clear copy fromkeys items keys move_to_end pop popitem setdefault update values")
_owner("collections.UserDict",
    "copy fromkeys")
_owner("collections.UserList",
    "append clear copy count extend index insert pop remove reverse",
    sort='natives._user_list_sort (sort_in_runs)')
_owner("collections.UserString",
    "capitalize casefold count endswith find index isalnum isalpha isascii isdecimal isdigit "
    "isidentifier islower isnumeric isprintable isspace istitle isupper lower lstrip "
    "maketrans partition removeprefix removesuffix rfind rindex rpartition rsplit rstrip "
    "split splitlines startswith strip swapcase title upper",
    center='natives._user_string: the str guard on its data',
    encode='natives._user_string (codec check)',
    expandtabs='natives._user_string',
    format='natives._user_string (SafeFormatter)',
    format_map='natives._user_string (SafeFormatter)',
    join='natives._user_string',
    ljust='natives._user_string',
    replace='natives._user_string',
    rjust='natives._user_string',
    translate='natives._user_string',
    zfill='natives._user_string')
_owner("collections.abc",
    "AsyncGenerator AsyncIterable AsyncIterator Awaitable ByteString Callable Collection "
    "Container Coroutine Generator Hashable ItemsView Iterable Iterator KeysView Mapping "
    "MappingView MutableMapping MutableSequence MutableSet Reversible Sequence Set Sized "
    "ValuesView")
_owner("collections.abc.AsyncGenerator",
    "aclose asend athrow")
_owner("collections.abc.Coroutine",
    "close send throw")
_owner("collections.abc.Generator",
    "close send throw")
_owner("collections.abc.Mapping",
    "get items keys values")
_owner("collections.abc.MutableMapping",
    "clear pop popitem setdefault update")
_owner("collections.abc.MutableSequence",
    "append clear extend insert pop remove reverse")
_owner("collections.abc.MutableSet",
    "add clear discard pop remove")
_owner("collections.abc.Sequence",
    "count index")
_owner("collections.abc.Set",
    "isdisjoint")
_owner("collections.defaultdict",
    "copy default_factory")
_owner("collections.deque",
    "append appendleft clear copy count extend extendleft index insert pop popleft remove "
    "reverse rotate")
_owner("copy",
    "Error",
    copy='copyable values only',
    deepcopy='copyable values only; the memo ticks')
_owner("csv",
    "Error excel excel_tab unix_dialect",
    DictReader='rows tick',
    DictWriter='rows through streams.Writer',
    reader='TickingIter over a ticking input',
    writer='streams.Writer: fields sized, f.write through the membrane')
_owner("csv.DictWriter",
    "writeheader writerow writerows")
_owner("dataclasses",
    "FrozenInstanceError InitVar field is_dataclass",
    asdict='data.dataclass_as_dict: tenant dataclasses, ticking, copyable leaves',
    astuple='data.dataclass_as_tuple',
    dataclass='tenant classes only',
    fields='tenant dataclasses only',
    replace='tenant dataclasses only')
_owner("dataclasses.Field",
    "type")
_owner("datetime",
    "date datetime time timedelta timezone tzinfo")
_owner("datetime.date",
    "ctime fromisocalendar fromisoformat fromordinal fromtimestamp isocalendar isoformat "
    "isoweekday replace strftime timetuple today toordinal weekday")
_owner("datetime.datetime",
    "astimezone combine ctime date dst fromisoformat fromtimestamp isoformat now replace time "
    "timestamp timetuple timetz tzname utcfromtimestamp utcnow utcoffset utctimetuple",
    strptime='classes._strptime_guard: format at most 256')
_owner("datetime.time",
    "dst fromisoformat isoformat replace strftime tzname utcoffset")
_owner("datetime.timedelta",
    "total_seconds")
_owner("datetime.timezone",
    "dst fromutc tzname utcoffset")
_owner("datetime.tzinfo",
    "dst fromutc tzname utcoffset")
_owner("decimal",
    "Clamped DecimalException DivisionByZero FloatOperation Inexact InvalidOperation Overflow "
    "Rounded Subnormal Underflow",
    Context='precision capped at 1,000 (ln/power at 10,000 ran 7 s), Emax/Emin at 5,000',
    Decimal='operators.check_decimal: exponent and digits at most 5,000')
_owner("decimal.Context",
    "Etiny Etop abs add canonical clear_flags clear_traps compare compare_signal "
    "compare_total compare_total_mag copy copy_abs copy_decimal copy_negate copy_sign "
    "create_decimal create_decimal_from_float divide divide_int divmod fma is_canonical "
    "is_finite is_infinite is_nan is_normal is_qnan is_signed is_snan is_subnormal is_zero "
    "logb logical_and logical_invert logical_or logical_xor max max_mag min min_mag minus "
    "multiply next_minus next_plus next_toward normalize number_class plus quantize radix "
    "remainder remainder_near rotate same_quantum scaleb shift subtract to_eng_string "
    "to_integral to_integral_exact to_integral_value to_sci_string",
    exp='precision capped at 1,000',
    ln='precision capped at 1,000',
    log10='precision capped at 1,000',
    power='precision capped at 1,000',
    sqrt='precision capped at 1,000')
_owner("decimal.Decimal",
    "adjusted as_integer_ratio as_tuple canonical compare compare_signal compare_total "
    "compare_total_mag conjugate copy_abs copy_negate copy_sign fma from_float is_canonical "
    "is_finite is_infinite is_nan is_normal is_qnan is_signed is_snan is_subnormal is_zero "
    "logb logical_and logical_invert logical_or logical_xor max max_mag min min_mag "
    "next_minus next_plus next_toward normalize number_class quantize radix remainder_near "
    "rotate same_quantum scaleb shift to_eng_string to_integral to_integral_exact "
    "to_integral_value",
    exp="the context's precision",
    ln="the context's precision (28, or a Context's at most 1,000)",
    log10="the context's precision",
    sqrt="the context's precision")
_owner("enum",
    "Enum Flag IntEnum IntFlag StrEnum auto unique")
_owner("flask",
    "Blueprint Flask HTTPException Request Response after_this_request flash "
    "get_flashed_messages has_app_context has_request_context make_response redirect "
    "stream_with_context",
    abort="werkzeug's classes; a description that is not text sized when answered "
          "(errorhandlers.error_response)",
    jsonify='flask_json: sized first, default= counted',
    log='shim.tenant_log: each value through consume.safe_str',
    render_template='as render_template_string',
    render_template_string='templates: compile ticks (lexer, code generator), at most 1 MB; rendering ticks and sizes',
    stream_template='as render_template_string (rendered when called, sent as one piece)',
    stream_template_string='as render_template_string',
    send_file='reads sized against the budget',
    send_from_directory='as send_file',
    url_for='urlencode ticks; the URL sized',
    Markup="companions.Markup: a value that is not text is read through consume (sized)",
    escape="companions.escape: a value that is not text is read through consume (sized)")
_owner("fractions",
    Fraction='arithmetic bounded like integers (operators._check_rationals)')
_owner("fractions.Fraction",
    "as_integer_ratio from_decimal from_float limit_denominator")
_owner("functions_framework",
    "cloud_event errorhandler http typed")
_owner("functools",
    "cache cached_property cmp_to_key lru_cache partial partialmethod",
    reduce='iterates a TickingIter',
    total_ordering='tenant classes only',
    update_wrapper='fixed names, tenant functions only',
    wraps='fixed names, tenant functions only')
_owner("functools._lru_cache_wrapper",
    "cache_clear cache_info")
_owner("functools.partial",
    "func")
_owner("hashlib",
    blake2b='off the hub past 1 MB (data.off_the_hub: the GIL is released)',
    blake2s='off the hub past 1 MB (data.off_the_hub: the GIL is released)',
    md5='off the hub past 1 MB (data.off_the_hub: the GIL is released)',
    new='off the hub past 1 MB (data.off_the_hub: the GIL is released)',
    sha1='off the hub past 1 MB (data.off_the_hub: the GIL is released)',
    sha224='off the hub past 1 MB (data.off_the_hub: the GIL is released)',
    sha256='off the hub past 1 MB (data.off_the_hub: the GIL is released)',
    sha384='off the hub past 1 MB (data.off_the_hub: the GIL is released)',
    sha3_224='off the hub past 1 MB (data.off_the_hub: the GIL is released)',
    sha3_256='off the hub past 1 MB (data.off_the_hub: the GIL is released)',
    sha3_384='off the hub past 1 MB (data.off_the_hub: the GIL is released)',
    sha3_512='off the hub past 1 MB (data.off_the_hub: the GIL is released)',
    sha512='off the hub past 1 MB (data.off_the_hub: the GIL is released)',
    shake_128='off the hub past 1 MB (data.off_the_hub: the GIL is released)',
    shake_256='off the hub past 1 MB (data.off_the_hub: the GIL is released)',
    pbkdf2_hmac='iterations capped at 200,000, dklen at 1,024')
_owner("heapq",
    "heapify heappop heappush heappushpop heapreplace",
    merge='TickingIter',
    nlargest='iterates a TickingIter',
    nsmallest='iterates a TickingIter')
_owner("hmac",
    "HMAC compare_digest digest new")
_owner("hmac.HMAC",
    "copy digest hexdigest",
    update='off the hub past 1 MB (data.off_the_hub: the GIL is released)')
_owner("html",
    "escape",
    unescape='ticks once per reference')
_owner("http",
    "HTTPStatus")
_owner("http.server",
    "BaseHTTPRequestHandler")
_owner("io",
    "BytesIO IOBase StringIO TextIOBase UnsupportedOperation")
_owner("itertools",
    accumulate='TickingIter over ticking inputs',
    chain='TickingIter over ticking inputs',
    combinations='TickingIter; width capped at 10,000',
    combinations_with_replacement='TickingIter; width capped at 10,000',
    compress='TickingIter over ticking inputs',
    count='TickingIter over ticking inputs',
    cycle='TickingIter over ticking inputs',
    dropwhile='TickingIter over ticking inputs',
    filterfalse='TickingIter over ticking inputs',
    groupby='TickingIter over ticking inputs',
    islice='TickingIter over ticking inputs',
    pairwise='TickingIter over ticking inputs',
    permutations='TickingIter; width capped at 10,000',
    product='TickingIter; tuple width capped at 10,000',
    repeat='TickingIter over ticking inputs',
    starmap='TickingIter over ticking inputs',
    takewhile='TickingIter over ticking inputs',
    tee='n capped at 1,000',
    zip_longest='TickingIter over ticking inputs')
_owner("json",
    "JSONDecodeError JSONDecoder JSONEncoder",
    dumps='jsontext.checked_dumps_options: sized first (6x the text + 70 a value + the indent '
          'once per level on each line); default= counted; indent and separators capped',
    loads='data.check_json_text: sized first (2x the text + 64 a value); cls= a decoder class only',
    load='loads() of fp.read(), read through guarded_getattr',
    dump="dumps()' text, written by fp.write through guarded_getattr")
_owner("json.decoder.JSONDecoder",
    decode='data._decoder_method: sized like json.loads',
    raw_decode='data._decoder_method')
_owner("json.encoder.JSONEncoder",
    "default",
    encode='jsontext.encoder_method: sized like json.dumps, its default counted',
    iterencode='jsontext.encoder_method')
_owner("logging",
    "FileHandler Formatter Handler Logger NullHandler StreamHandler basicConfig "
    "captureWarnings disable getLevelName getLogger",
    critical="through the root logger's log (sized, cut)",
    debug="through the root logger's log (sized, cut)",
    error="through the root logger's log (sized, cut)",
    exception="through the root logger's log (sized, cut)",
    info="through the root logger's log (sized, cut)",
    log="through the root logger's log (sized, cut)",
    warn="through the root logger's log (sized, cut)",
    warning="through the root logger's log (sized, cut)")
_owner("markupsafe.Markup",
    "capitalize casefold escape lower lstrip partition removeprefix removesuffix rpartition "
    "rsplit rstrip split splitlines strip swapcase title upper",
    striptags="natives._markup_striptags: at most 256 KB (a pure-Python loop per tag)",
    unescape="natives.ticking_unescape: ticks once per reference",
    **_SIZED_TEXT)
_owner("math",
    "acos acosh asin asinh atan atan2 atanh cbrt copysign cos cosh degrees erf erfc exp exp2 "
    "expm1 fabs fmod frexp gamma gcd isclose isfinite isinf isnan isqrt ldexp lgamma log "
    "log10 log1p log2 modf nextafter pow radians remainder sin sinh sqrt tan tanh ulp",
    ceil='operators.check_decimal',
    comb='n capped at 20,000',
    dist='C over its inputs',
    factorial='argument capped at 20,000',
    floor='operators.check_decimal',
    fsum='C over its input; iterators tick',
    hypot='C over its inputs',
    lcm="the arguments' bits summed, at most MAX_INT_BITS",
    perm='n capped at 20,000',
    prod='each product through operators.guarded_mul (MAX_INT_BITS)',
    trunc='operators.check_decimal')
_owner("muxserver.tenant_api.forms.BaseHTTPRequestHandler",
    "end_headers log_message send_error send_header send_response send_response_only")
_owner("muxserver.tenant_api.kv.KVFacade",
    "Conflict delete get_versioned",
    set="kv: the value sized first, at most 1 MB as JSON, the quota",
    get="kv: one row",
    keys="kv: at most 10,000 keys")
_owner("muxserver.tenant_api.request.BodyStream",
    "read readline")
_owner("muxserver.tenant_api.request.TenantHeaders",
    add="at most 1,000 headers, checked before werkzeug's loops (extend, update, a slice)",
    set="as add")
_owner("muxserver.tenant_api.request.UploadedFile",
    read="the upload: at most --max-body",
    save="files.TenantFiles.save_stream: /data only, the quota for the whole file first, "
         "chunks of at most 1 MB that tick; or a file object's write, through the membrane")
_owner("muxserver.tenant_api.response.Response",
    "delete_cookie get_data set_cookie set_data")
_owner("muxserver.tenant_api.shim.AppConfig",
    "from_envvar from_mapping from_object from_prefixed_env from_pyfile")
_owner("muxserver.tenant_api.shim.Blueprint",
    "after_app_request app_errorhandler before_app_request",
    app_url_defaults="shim._add_processor: at most 100",
    app_url_value_preprocessor="shim._add_processor: at most 100",
    **dict.fromkeys(["add_app_template_filter", "add_app_template_global",
                     "add_app_template_test", "app_template_filter", "app_template_global",
                     "app_template_test"], "templates.TenantJinjaEnv.add: at most 1,000 each"))
_owner("muxserver.tenant_api.shim.Flask",
    "after_request app_context before_request context_processor delete "
    "errorhandler get open_resource patch post put register_blueprint "
    "route run send_static_file teardown_appcontext teardown_request test_request_context",
    add_url_rule="at most 10,000 routes an app (shim.MAX_ROUTES)",
    url_defaults="shim._add_processor: at most 100",
    url_value_preprocessor="shim._add_processor: at most 100",
    register_error_handler="errorhandlers.register: at most 100",
    **dict.fromkeys(["add_template_filter", "add_template_global", "add_template_test",
                     "template_filter", "template_global", "template_test"],
                    "templates.TenantJinjaEnv.add: at most 1,000 each"))
_owner("muxserver.tenant_api.shim.RequestGlobals",
    "get pop setdefault")
_owner("muxserver.tenant_api.shim._Commands",
    "add_command command")
_owner("muxserver.tenant_api.shim._JSONFacade",
    "dumps jsonify loads")
_owner("muxserver.tenant_api.shim._AppContext",
    push="shim._AppContext: at most 100 deep",
    pop="shim._AppContext: runs the app's teardown hooks")
_owner("muxserver.tenant_api.shim._NullContext",
    "pop push")
_owner("numbers.Real",
    "conjugate")
_owner("operator",
    "abs and_ contains countOf eq ge getitem gt index indexOf inv invert is_ is_not "
    "itemgetter le length_hint lt matmul ne neg not_ or_ pos rshift truth xor",
    add='operators.guarded_add',
    attrgetter='the membrane',
    concat='operators.guarded_add',
    delitem='access.guarded_write',
    floordiv='operators.guarded_floordiv',
    lshift='operators.guarded_lshift',
    methodcaller='the membrane',
    mod='consume.guarded_mod',
    mul='operators.guarded_mul',
    pow='operators.guarded_pow',
    setitem='access.guarded_write',
    sub='operators.guarded_sub',
    truediv='operators.guarded_truediv')
_owner("os",
    "QuotaExceeded error getcwd getenv makedirs mkdir remove rename replace rmdir stat unlink",
    listdir='names x 64 bytes against the budget',
    scandir='TickingIter',
    urandom='size against the budget',
    walk='TickingIter')
_owner("os.path",
    "abspath exists expanduser getmtime getsize isdir isfile islink realpath",
    basename='at most 64 KB of paths',
    commonpath='at most 64 KB of paths',
    commonprefix='at most 64 KB of paths',
    dirname='at most 64 KB of paths',
    isabs='at most 64 KB of paths',
    join='at most 64 KB of paths',
    normpath='at most 64 KB of paths',
    split='at most 64 KB of paths',
    splitext='at most 64 KB of paths')
_owner("random",
    "Random SystemRandom betavariate choice expovariate gammavariate gauss getstate "
    "lognormvariate normalvariate paretovariate random seed setstate triangular uniform "
    "vonmisesvariate weibullvariate",
    choices='_Bounded',
    getrandbits='_Bounded',
    randbytes='_Bounded',
    randint='through getrandbits',
    randrange='through getrandbits',
    sample='_Bounded',
    shuffle='_Bounded')
_owner("random.Random",
    "betavariate choice expovariate gammavariate gauss getstate lognormvariate normalvariate "
    "paretovariate seed setstate triangular uniform vonmisesvariate weibullvariate",
    randint='through getrandbits (MAX_INT_BITS)',
    randrange='through getrandbits (MAX_INT_BITS)')
_owner("random.SystemRandom",
    "getstate random seed setstate")
_owner("re",
    "Match Pattern error escape",
    compile='pattern at most 10,000 characters; no shared cache',
    findall='timed (timed_re._timed)',
    finditer='timed (timed_re._timed)',
    fullmatch='timed (timed_re._timed)',
    match='timed (timed_re._timed)',
    search='timed (timed_re._timed)',
    split='timed (timed_re._timed)',
    sub='timed; sized as it expands',
    subn='timed; sized as it expands')
_outbound = ("network waits yield; the body is read whole up to 64 MB and charged to the "
             "memory budget (outbound.fetch)")
_owner("requests",
    "ConnectTimeout ConnectionError HTTPError ReadTimeout RequestException Timeout "
    "TooManyRedirects Response",
    **dict.fromkeys("Session session delete get head options patch post put request".split(),
                    _outbound))
_owner("requests.exceptions",
    "ConnectTimeout ConnectionError HTTPError ReadTimeout RequestException Timeout "
    "TooManyRedirects")
_owner("sandbox.facades.outbound.Response",
    "raise_for_status",
    json="json.loads of a body already read (linear in it)")
_owner("sandbox.facades.outbound.build_requests.<locals>.Session",
    "close",
    **dict.fromkeys("delete get head patch post put request".split(), _outbound))
_owner("sandbox.facades.outbound.Headers",
    "get")
_owner("sandbox.facades.outbound.UrlResponse",
    "close getcode geturl getheader getheaders info",
    read="slices a body already read")
_owner("sandbox.facades.streams.Request",
    "add_header get_method header_items")
_owner("sandbox.facades.files.TenantFile",
    "close flush readable seek tell writable",
    read='sized against the budget',
    readline='sized',
    readlines='sized',
    write='the storage quota (gaps after a seek count)',
    writelines='ticks; each line through write')
_owner("sandbox.facades.functional.Chain",
    from_iterable='TickingIter')
_owner("sandbox.facades.functional.Counter",
    elements='TickingIter',
    most_common='natives.sort_in_runs past 2**15')
_owner("sandbox.facades.numbers._Bounded",
    choices='k x 8 bytes against the budget',
    getrandbits='MAX_INT_BITS',
    randbytes='size against the budget',
    sample='k x 8 bytes against the budget',
    shuffle="CPython's Fisher-Yates, ticking every 64 swaps")
_owner("sandbox.facades.sqlite.Connection",
    "commit create_aggregate create_collation create_function cursor rollback row_factory "
    "text_factory DataError DatabaseError Error IntegrityError InterfaceError InternalError "
    "NotSupportedError OperationalError ProgrammingError Warning",
    close='refused from its own callbacks',
    execute='as Cursor.execute',
    executemany='as Cursor.execute',
    executescript='as Cursor.execute',
    iterdump='TickingIter')
_owner("sandbox.facades.sqlite.Cursor",
    "close",
    execute='SQLITE_LIMIT_LENGTH, progress handler, page ledger, no re-entry',
    executemany='as execute',
    executescript='as execute',
    fetchall='progress handler; values within SQLITE_LIMIT_LENGTH',
    fetchmany='as fetchall',
    fetchone='as fetchall')
_owner("sandbox.facades.streams.Writer",
    writerow='fields through consume.text_of, sized',
    writerows='ticks per row')
_owner("sandbox.facades.system.Handler",
    "addFilter setFormatter setLevel")
_owner("sandbox.facades.system.TenantLogger",
    "addHandler getChild getEffectiveLevel hasHandlers isEnabledFor removeHandler setLevel",
    critical='through log (sized, cut)',
    debug='through log (sized, cut)',
    error='through log (sized, cut)',
    exception='through log (sized, cut)',
    fatal='through log (sized, cut)',
    info='through log (sized, cut)',
    log='consume.safe_str, lines cut at 8 KB',
    warn='through log (sized, cut)',
    warning='through log (sized, cut)')
_owner("sandbox.facades.system._DirEntry",
    "is_dir is_file is_symlink")
_owner("sandbox.facades.system._LogStream",
    "flush isatty",
    write='lines cut at 8 KB')
_owner("sandbox.facades.timed_re.Match",
    "end group groupdict groups span start",
    expand='timed_re._expansion_bound against the budget')
_owner("sandbox.facades.timed_re.Pattern",
    findall='timed: a slice inline, then the offload thread by tenant',
    finditer='timed: a slice inline, then the offload thread by tenant',
    fullmatch='timed: a slice inline, then the offload thread by tenant',
    match='timed: a slice inline, then the offload thread by tenant',
    search='timed: a slice inline, then the offload thread by tenant',
    split='timed: a slice inline, then the offload thread by tenant',
    sub='timed; expansions sized as made (timed_re._sized_repl)',
    subn='as sub')
_owner("sandbox.guards.builtins.SafeRange",
    "count index")
_owner("secrets",
    "SystemRandom choice compare_digest",
    randbelow='bounded by its argument (MAX_INT_BITS)',
    randbits='MAX_INT_BITS',
    token_bytes='capped at 1 MB',
    token_hex='capped at 1 MB',
    token_urlsafe='capped at 1 MB')
_owner("sqlite3",
    "DataUnavailable Binary Connection Cursor DataError DatabaseError Error IntegrityError "
    "InterfaceError InternalError NotSupportedError OperationalError ProgrammingError QuotaError Row Warning "
    "complete_statement register_converter",
    connect='at most 64 connections; /data only; authorizer, length limit, page ledger')
_owner("sqlite3.Row",
    "keys")
_owner("statistics",
    "NormalDist StatisticsError",
    correlation='a TickingList: the pure-Python loops tick',
    covariance='a TickingList: the pure-Python loops tick',
    fmean='a TickingList: the pure-Python loops tick',
    geometric_mean='a TickingList: the pure-Python loops tick',
    harmonic_mean='a TickingList: the pure-Python loops tick',
    linear_regression='a TickingList: the pure-Python loops tick',
    mean='a TickingList: the pure-Python loops tick',
    median='a TickingList: the pure-Python loops tick',
    median_grouped='a TickingList: the pure-Python loops tick',
    median_high='a TickingList: the pure-Python loops tick',
    median_low='a TickingList: the pure-Python loops tick',
    mode='a TickingList: the pure-Python loops tick',
    multimode='a TickingList: the pure-Python loops tick',
    pstdev='a TickingList: the pure-Python loops tick',
    pvariance='a TickingList: the pure-Python loops tick',
    quantiles='a TickingList: the pure-Python loops tick',
    stdev='a TickingList: the pure-Python loops tick',
    variance='a TickingList: the pure-Python loops tick')
_owner("statistics.NormalDist",
    "cdf inv_cdf overlap pdf zscore",
    from_samples='numbers._from_samples: a ticking list',
    quantiles='numbers._normal_quantiles: n sized, ticking',
    samples='numbers._normal_samples: n sized, ticking')
_owner("string",
    capwords='C split and join')
_owner("sys",
    "getdefaultencoding getrecursionlimit")
_owner("textwrap",
    dedent='at most 512 KB (a pure-Python loop)',
    fill='as wrap',
    indent='the prefix times the lines, sized first',
    shorten='as wrap',
    wrap='32 bytes a character sized first; the chunk loop ticks')
_owner("time",
    "asctime ctime gmtime localtime mktime monotonic monotonic_ns perf_counter "
    "perf_counter_ns strftime struct_time time time_ns",
    sleep='wall time; refused outside a request',
    strptime='format at most 256 characters')
_owner("traceback",
    format_exc='consume.exception_text (bounded)',
    format_exception='consume.exception_text',
    format_exception_only='consume.exception_text',
    print_exc='consume.exception_text')
_owner("typing",
    "Annotated Any Callable ClassVar Counter DefaultDict Deque Dict Final FrozenSet Generator "
    "Generic Hashable Iterable Iterator List Literal Mapping MutableMapping MutableSequence "
    "NamedTuple NoReturn Optional OrderedDict Protocol Sequence Set Sized Tuple Type TypeVar "
    "TypedDict Union cast overload")
_owner("urllib.error",
    "ContentTooShortError HTTPError URLError")
_owner("urllib.parse",
    "DefragResult ParseResult SplitResult urlunparse urlunsplit",
    parse_qs='at most 512 KB (pure Python)',
    parse_qsl='at most 512 KB (pure Python)',
    quote='at most 512 KB (pure Python)',
    quote_from_bytes='at most 512 KB (pure Python)',
    quote_plus='at most 512 KB (pure Python)',
    unquote='at most 512 KB (pure Python)',
    unquote_plus='at most 512 KB (pure Python)',
    unquote_to_bytes='at most 512 KB (pure Python)',
    urldefrag='at most 512 KB (pure Python)',
    urlencode='quote_via ticks once per item',
    urljoin='at most 512 KB (pure Python)',
    urlparse='at most 512 KB (pure Python)',
    urlsplit='at most 512 KB (pure Python)')
_owner("urllib.parse.DefragResult",
    "geturl")
_owner("urllib.parse.ParseResult",
    "geturl")
_owner("urllib.parse.SplitResult",
    "geturl")
_owner("urllib.parse._ResultMixinStr",
    "encode")
_owner("urllib.request",
    "HTTPError Request URLError build_opener",
    urlopen=_outbound)
_owner("uuid",
    "UUID uuid3 uuid4 uuid5")
_owner("werkzeug.datastructures.accept.Accept",
    "find index quality to_header values",
    best_match='request._best_match: at most 1,000 candidates')
_owner("werkzeug.datastructures.headers.EnvironHeaders",
    "copy")  # raises: request.headers cannot be copied, as in Flask
_owner("werkzeug.datastructures.headers.Headers",
    "add add_header clear copy extend get get_all getlist items keys pop popitem remove set "
    "setdefault setlist setlistdefault update values")
_owner("werkzeug.datastructures.mixins.ImmutableDictMixin",
    "clear fromkeys pop popitem setdefault update")
_owner("werkzeug.datastructures.mixins.ImmutableHeadersMixin",
    "add add_header extend pop popitem remove set setdefault setlist setlistdefault "
    "update")  # each raises: request.headers is immutable, as in Flask
_owner("werkzeug.datastructures.mixins.ImmutableListMixin",
    "append extend insert pop remove reverse sort")
_owner("werkzeug.datastructures.mixins.ImmutableMultiDictMixin",
    "add popitemlist poplist setlist setlistdefault")
_owner("werkzeug.datastructures.structures.CombinedMultiDict",
    "copy fromkeys get getlist items keys lists listvalues values")
_owner("werkzeug.datastructures.structures.ImmutableMultiDict",
    "copy")
_owner("werkzeug.datastructures.structures.MultiDict",
    "deepcopy getlist items lists listvalues to_dict values")
_owner("werkzeug.datastructures.structures.TypeConversionDict",
    "get")
_owner("werkzeug.exceptions",
    "BadGateway BadRequest BadRequestKeyError Conflict ExpectationFailed FailedDependency "
    "Forbidden GatewayTimeout Gone HTTPException HTTPVersionNotSupported ImATeapot "
    "InternalServerError LengthRequired Locked MethodNotAllowed MisdirectedRequest "
    "NotAcceptable NotFound NotImplemented PreconditionFailed PreconditionRequired "
    "RequestEntityTooLarge RequestHeaderFieldsTooLarge RequestTimeout RequestURITooLarge "
    "RequestedRangeNotSatisfiable ServiceUnavailable TooManyRequests Unauthorized "
    "UnavailableForLegalReasons UnprocessableEntity UnsupportedMediaType",
    abort="as flask.abort")
_owner("werkzeug.exceptions.HTTPException",
    get_body="errorhandlers._sized: the description made text sized first",
    get_description="errorhandlers._sized",
    get_headers="errorhandlers._sized: containers given as header values sized first",
    get_response="errorhandlers.error_response: sized as get_body and get_headers")
_owner("werkzeug.exceptions.MethodNotAllowed",
    get_headers="errorhandlers._sized")
_owner("werkzeug.exceptions.RequestedRangeNotSatisfiable",
    get_headers="errorhandlers._sized")
_owner("werkzeug.exceptions.Unauthorized",
    get_headers="errorhandlers._sized")
_owner("werkzeug.exceptions._RetryAfter",
    get_headers="errorhandlers._sized")
_owner("werkzeug.middleware.proxy_fix",
    ProxyFix="proxyfix.ProxyFix: five ints from 0 to 10 kept, nothing called")
_owner("werkzeug.security",
    check_password_hash="the stored method's cost capped; off the hub",
    generate_password_hash="cost capped at werkzeug's defaults; run whole off the hub")
_owner("werkzeug.utils",
    secure_filename="companions._secure_filename: at most 4,096 characters (NFKD expands 18x)")
_owner("yaml",
    "CDumper CLoader CSafeDumper CSafeLoader Dumper FullLoader Loader SafeDumper SafeLoader "
    "YAMLError",
    dump='as safe_dump',
    full_load='as safe_load',
    load='as safe_load',
    safe_dump='sized first; the representer ticks',
    safe_load='at most 2 MB; libyaml up to 32 KB, past that the pure-Python parser, ticking; the constructor ticks (merge keys)',
    safe_load_all='as safe_load')
_owner("zlib",
    "adler32 crc32 error",
    compress='off the hub past 1 MB (data.off_the_hub: the GIL is released)',
    decompress='output capped at 64 MB; off the hub past 1 MB (data.off_the_hub: the GIL is released)')

_owner("asyncio",
    "CancelledError InvalidStateError TimeoutError get_event_loop get_running_loop iscoroutine "
    "iscoroutinefunction new_event_loop set_event_loop",
    run="aio: a small loop inside the request's limits, every step ticks",
    sleep="aio: cooperative, under the wall time",
    gather="aio: at most 10,000 tasks a loop; every step ticks",
    create_task="aio: at most 10,000 tasks a loop",
    ensure_future="aio: as create_task",
    wait_for="aio: every step ticks")
_owner("click",
    "Abort BadParameter ClickException FLOAT INT STRING UUID UsageError",
    Choice="commands: the click type, for commands that run under the limits",
    FloatRange="commands: the click type", IntRange="commands: the click type",
    confirm="commands: the terminal of `muxserver flask` only; the text sized",
    prompt="commands: the terminal of `muxserver flask` only; the text sized",
    secho="commands.echo: the text through consume (sized)",
    style="the text through consume (sized)")
_owner("flask.cli",
    "with_appcontext")
_owner("werkzeug.http",
    "http_date",
    parse_date="companions._parse_date: reads at most 1 KiB (email.utils splits the whole value)")
_owner("flask.views",
    MethodView="views.MethodView: a class tenant code subclasses; its methods are the tenant's",
    View="views.View: as MethodView")
_owner("jinja2",
    "FilterArgumentError SecurityError TemplateAssertionError TemplateError TemplateNotFound TemplateRuntimeError TemplateSyntaxError TemplatesNotFound UndefinedError",
    TemplatesNotFound="companions._bound_jinja_errors: 100 names listed, the rest counted",
    TemplateSyntaxError="companions._bound_jinja_errors: a source over 1 MiB is not quoted")
_owner("jinja2.exceptions",
    "FilterArgumentError SecurityError TemplateAssertionError TemplateError TemplateNotFound TemplateRuntimeError TemplateSyntaxError TemplatesNotFound UndefinedError",
    TemplatesNotFound="as jinja2.TemplatesNotFound",
    TemplateSyntaxError="as jinja2.TemplateSyntaxError")
_owner("markupsafe",
    Markup="companions.Markup: a value that is not text is read through consume (sized)",
    escape="companions.escape: a value that is not text is read through consume (sized)",
    escape_silent="as escape", soft_str="as escape")
_owner("muxserver.tenant_api.flask_json.JSONProvider",
    dumps="flask_json.dumps: jsontext.checked_dumps_options, as json.dumps",
    loads="data.decode_json: sized first",
    response="as dumps")
_owner("werkzeug.routing",
    "ValidationError",
    BaseConverter="converters.BaseConverter: a class tenant code subclasses",
    FloatConverter="converters.FloatConverter: werkzeug's, on the text as a str",
    IntegerConverter="converters.IntegerConverter: werkzeug's, on the text as a str",
    PathConverter="converters.PathConverter: as BaseConverter",
    UnicodeConverter="converters.UnicodeConverter: werkzeug's regex for the arguments")
_owner("muxserver.tenant_api.converters.BaseConverter",
    to_python="returns the value", to_url="quote of safe_str_builtin (sized)")
_owner("muxserver.tenant_api.converters._NumberConverter",
    to_python="werkzeug's on safe_str_builtin of the value",
    to_url="werkzeug's on a number or on safe_str_builtin of the value")
_owner("muxserver.tenant_api.urlmap.TenantURLMap",
    is_endpoint_expecting="one pass over the tenant's registered routes")
_owner("muxserver.tenant_api.views.View",
    as_view="views.ClassView: calls the tenant's class and its methods, in the caller's limits",
    dispatch_request="raises NotImplementedError")
_owner("muxserver.tenant_api.views.MethodView",
    dispatch_request="calls the tenant's method for the request's method, in the caller's limits")
_owner("muxserver.tenant_api.views.ClassView",
    __call__="as View.as_view")
_owner("muxserver.tenant_api.commands.TenantGroup",
    "add_command command group")
_owner("muxserver.tenant_api.shim.Flask",
    cli="a TenantGroup; calling a command calls the tenant's function")
# ``mux`` offers the same objects as ``flask``.
NATIVES["mux"] = NATIVES["flask"]
