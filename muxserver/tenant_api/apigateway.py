"""AWS Lambda behind API Gateway: the event, the context and the answer.

``form = "lambda"`` is an HTTP API with payload format 2.0; ``form =
"lambda-rest"`` a REST API (payload format 1.0). The handler is called as
the Lambda runtime calls it, ``handler(event, context)`` (an ``async def``
is awaited), with the shapes AWS documents for a ``$default`` route (2.0)
and a ``/{proxy+}`` resource (1.0):

* 2.0: ``version``, ``routeKey``, ``rawPath``, ``rawQueryString``,
  ``cookies`` (the ``cookie`` header, split; absent without cookies),
  ``headers`` (lower-case names), ``queryStringParameters`` (repeated keys
  joined with commas; absent without a query), ``requestContext``
  (``accountId``, ``apiId``, ``domainName``, ``domainPrefix``, ``http``
  {``method``, ``path``, ``protocol``, ``sourceIp``, ``userAgent``},
  ``requestId``, ``routeKey``, ``stage``, ``time``, ``timeEpoch``), ``body``
  (absent when empty), ``isBase64Encoded``.
* 1.0: ``resource``, ``path``, ``httpMethod``, ``headers`` (names as the
  client spelled them, as REST APIs keep them; a repeated header's last
  value) and ``multiValueHeaders`` (every value), ``queryStringParameters``
  (the last value) and
  ``multiValueQueryStringParameters`` (``null`` without a query),
  ``pathParameters`` (``{"proxy": ...}`` below the root), ``stageVariables``,
  ``requestContext`` (with ``identity``), ``body`` (``null`` when empty),
  ``isBase64Encoded``.

A body is passed as text when it is text (a ``text/*``, JSON, XML,
JavaScript or form content type, or no type and valid UTF-8), base64 with
``isBase64Encoded`` otherwise. The context has the Python runtime's names:
``aws_request_id`` (the request id), ``function_name`` (the tenant),
``function_version``, ``invoked_function_arn``, ``memory_limit_in_mb`` (a
string, as the runtime has it), ``log_group_name``, ``log_stream_name``,
``identity``, ``client_context``, ``get_remaining_time_in_millis()`` (the
request's wall time left) and ``log()``.

The answer is what the runtime makes of the return value (JSON, with
``Decimal`` as a number) and what API Gateway makes of that:

* 2.0: a dict with ``statusCode`` is a response (``headers``, ``cookies``
  as ``Set-Cookie`` headers, ``body``, ``isBase64Encoded``); any other JSON
  value is a 200 ``application/json`` answer whose body is the value (a
  string as it is, anything else as JSON).
* 1.0: a dict (``statusCode``, ``headers``, ``multiValueHeaders`` merged
  with them, ``body``, ``isBase64Encoded`` — or ``base64Encoded``, which a
  REST API reads first); anything else, or a key REST does not know, is
  malformed.

A ``body`` that is a number or a boolean is its JSON text (``42`` answers
``42``), as API Gateway reads it; an object or a list is malformed.

Without a ``Content-Type`` the answer is ``application/json``, as API
Gateway's. A handler that raises, a value the runtime cannot serialise or
a malformed answer is answered as API Gateway answers a failed
integration: ``502 {"message": "Internal server error"}``, with the reason
(and the traceback) in the tenant's log.

.. warning::
   ``isBase64Encoded`` bodies are decoded for both forms (for REST, as with
   ``binaryMediaTypes: */*``). Stage variables, authorizers and custom
   route keys do not exist here. Header names keep the client's spelling
   only under muxserver's own HTTP server; under another WSGI server
   (werkzeug's test client) a 1.0 event has them title-cased.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import json
import sys
import time

from muxserver.http import RAW_HEADERS
from muxserver.tenant_api import context
from muxserver.tenant_api.response import Response
from muxserver.tracebacks import format_tenant_traceback
from sandbox.guards import safe_str
from sandbox.guards.declared import declared
from sandbox import limits
from sandbox.facades.aio import resolve
from sandbox.facades.data import build_json

#: The account id of every event (not an AWS account).
ACCOUNT_ID = "000000000000"
#: Lambda's limit on a synchronous response payload.
MAX_PAYLOAD_BYTES = 6 * 2**20
_FAILED = {"message": "Internal server error"}
_TEXT_TYPES = ("application/json", "application/xml", "application/javascript",
               "application/x-www-form-urlencoded", "application/graphql")
_REST_KEYS = frozenset(["statusCode", "body", "headers", "multiValueHeaders", "isBase64Encoded",
                        "base64Encoded", "cookies"])
_guarded_dumps = build_json(None)["dumps"]


class GatewayError(Exception):
    """The integration failed: API Gateway answers 502."""


# -- the event ---------------------------------------------------------------------------


def _body(request) -> tuple[str | None, bool]:
    data = request.get_data()
    if not data:
        return None, False
    mimetype = (request.mimetype or "").lower()
    textual = (mimetype.startswith("text/") or mimetype in _TEXT_TYPES
               or mimetype.endswith(("+json", "+xml")))
    if textual or not mimetype:
        try:
            return data.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(data).decode("ascii"), True


def _times() -> tuple[str, int]:
    now = time.time()
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)), int(now * 1000)


def _environ(request) -> dict:
    return request._r.environ


def _forwarded(request) -> dict:
    environ = _environ(request)
    return {"x-forwarded-for": request.remote_addr or "",
            "x-forwarded-port": str(environ.get("SERVER_PORT", "")),
            "x-forwarded-proto": request.scheme}


def http_api_event(request, request_id: str, tenant: str) -> dict:
    """The payload format 2.0 event of ``request``."""
    headers = {}
    for name, value in request.headers.items():
        name = name.lower()
        if name == "cookie":
            continue  # in "cookies"
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    for name, value in _forwarded(request).items():
        headers.setdefault(name, value)
    stamp, epoch = _times()
    host = request.host
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.path,
        "rawQueryString": request.query_string.decode("latin-1"),
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": tenant,
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": _environ(request).get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": request.remote_addr or "",
                "userAgent": request.user_agent.string,
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": stamp,
            "timeEpoch": epoch,
        },
        "isBase64Encoded": False,
    }
    cookies = [part.strip() for line in request.headers.getlist("Cookie")
               for part in line.split(";") if part.strip()]
    if cookies:
        event["cookies"] = cookies
    query = {key: ",".join(values) for key, values in request.args.lists()}
    if query:
        event["queryStringParameters"] = query
    body, encoded = _body(request)
    if body is not None:
        event["body"] = body
        event["isBase64Encoded"] = encoded
    return event


def rest_api_event(request, request_id: str, tenant: str) -> dict:
    """The REST API (payload format 1.0) event of ``request``."""
    headers, multi = {}, {}
    sent = _as_sent(_environ(request))
    for name, value in request.headers.items():
        # REST keeps the client's spelling of a name ("day", not "Day"),
        # and a repeated header's values apart ("headers" has the last).
        spelled, values = sent.get(name.upper().replace("-", "_"), (name, None))
        if values is None or ("; " if name == "Cookie" else ",").join(values) != value:
            values = [value]  # not as sent (the host set it): as the environ has it
        headers[spelled] = values[-1]
        multi[spelled] = values
    for name, value in _canonical(_forwarded(request)).items():
        if name.upper() not in {key.upper() for key in headers}:
            headers[name] = value
            multi[name] = [value]
    resource = "/" if request.path == "/" else "/{proxy+}"
    stamp, epoch = _times()
    host = request.host
    body, encoded = _body(request)
    lists = dict(request.args.lists())
    return {
        "resource": resource,
        "path": request.path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi,
        "queryStringParameters": {k: v[-1] for k, v in lists.items()} or None,
        "multiValueQueryStringParameters": lists or None,
        "pathParameters": None if resource == "/" else {"proxy": request.path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": tenant,
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "extendedRequestId": request_id,
            "httpMethod": request.method,
            "identity": {
                "accessKey": None, "accountId": None, "caller": None,
                "cognitoAuthenticationProvider": None, "cognitoAuthenticationType": None,
                "cognitoIdentityId": None, "cognitoIdentityPoolId": None,
                "principalOrgId": None, "sourceIp": request.remote_addr or "", "user": None,
                "userAgent": request.user_agent.string, "userArn": None,
            },
            "path": request.path,
            "protocol": _environ(request).get("SERVER_PROTOCOL", "HTTP/1.1"),
            "requestId": request_id,
            "requestTime": stamp,
            "requestTimeEpoch": epoch,
            "resourceId": tenant,
            "resourcePath": resource,
            "stage": "$default",
        },
        "body": body,
        "isBase64Encoded": encoded,
    }


def _as_sent(environ) -> dict:
    """The request's header lines as the client spelled them, by the key
    WSGI gives each: ``{"DAY": ("day", ["Thursday"])}`` (the first spelling
    of a repeated name). Empty under servers that keep no raw header lines."""
    sent: dict = {}
    for raw_name, raw_value in environ.get(RAW_HEADERS, ()):
        name = raw_name.decode("latin-1")
        key = name.upper().replace("-", "_")
        entry = sent.get(key)
        if entry is None:
            entry = sent[key] = (name, [])
        entry[1].append(raw_value.decode("latin-1"))
    return sent


def _canonical(headers: dict) -> dict:
    return {"-".join(p.capitalize() for p in name.split("-")): v for name, v in headers.items()}


# -- the context -------------------------------------------------------------------------


def runtime_environment(tenant: str, handler: str, memory_mb: int) -> dict[str, str]:
    """The variables the Lambda runtime sets in a function's environment
    (AWS's "defined runtime environment variables"), with the values its
    context has: the handler (``_HANDLER``, the entry point), the runtime
    (``AWS_EXECUTION_ENV``), the function's name (the tenant), version,
    memory (the tenant's ``memory_mb``) and log group, the code's folder
    (``LAMBDA_TASK_ROOT``: ``/app``), ``TZ`` and ``LANG``.

    .. warning::
       Not set: ``AWS_REGION``/``AWS_DEFAULT_REGION`` and the credentials
       (``AWS_ACCESS_KEY_ID``...) — there is no region or account here;
       ``AWS_LAMBDA_LOG_STREAM_NAME`` (the context's is per request here);
       ``AWS_LAMBDA_RUNTIME_API`` (no runtime API to call).
    """
    return {"_HANDLER": handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info[0]}.{sys.version_info[1]}",
            "AWS_LAMBDA_FUNCTION_NAME": tenant, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{tenant}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "LAMBDA_TASK_ROOT": "/app", "TZ": ":UTC", "LANG": "en_US.UTF-8"}


@declared("cognito_identity_id cognito_identity_pool_id")
class CognitoIdentity:
    """``context.identity``: empty, as for a call through API Gateway."""

    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self):
        self.cognito_identity_id = None
        self.cognito_identity_pool_id = None


@declared("aws_request_id function_name function_version invoked_function_arn "
          "memory_limit_in_mb log_group_name log_stream_name identity client_context tenant_id "
          "get_remaining_time_in_millis log")
class LambdaContext:
    """The Lambda runtime's context object, for one request."""

    __slots__ = ("aws_request_id", "function_name", "function_version", "invoked_function_arn",
                 "memory_limit_in_mb", "log_group_name", "log_stream_name", "identity",
                 "client_context", "tenant_id", "_log", "_wall_s")

    def __init__(self, request_id: str, tenant: str, memory_mb: int, wall_s: float | None,
                 log_line):
        self.aws_request_id = request_id
        self.function_name = tenant
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:local:{ACCOUNT_ID}:function:{tenant}"
        self.memory_limit_in_mb = str(memory_mb)
        self.log_group_name = f"/aws/lambda/{tenant}"
        self.log_stream_name = f"muxserver/[$LATEST]{request_id}"
        self.identity = CognitoIdentity()
        self.client_context = None
        self.tenant_id = None
        self._log = log_line
        self._wall_s = wall_s

    def get_remaining_time_in_millis(self) -> int:
        budget = limits.current()
        deadline = budget.wall_deadline if budget is not None else None
        left = deadline - time.monotonic() if deadline is not None else self._wall_s or 0
        return max(0, int(left * 1000))

    def log(self, msg) -> None:
        self._log(safe_str(msg), "info")

    def __repr__(self):
        return f"LambdaContext([aws_request_id={self.aws_request_id},function_name={self.function_name}])"


# -- the answer --------------------------------------------------------------------------


def _lambda_json(value):
    if isinstance(value, decimal.Decimal):
        return float(value) if value.is_nan() else json.loads(str(value))
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def marshal(result):
    """What reaches API Gateway: the return value through the runtime's JSON."""
    if isinstance(result, (bytes, bytearray)):
        raise GatewayError("the handler returned bytes, which the Lambda runtime passes on "
                           "unchanged and API Gateway cannot read")
    try:
        text = _guarded_dumps(result, default=_lambda_json)
    except (TypeError, ValueError) as exc:
        raise GatewayError(f"Unable to marshal response: {exc}") from None
    if len(text) > MAX_PAYLOAD_BYTES:
        raise GatewayError(f"the response is over Lambda's {MAX_PAYLOAD_BYTES // 2**20} MB limit")
    return json.loads(text)


def _header_value(name, value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return value
    raise GatewayError(f"header {name!r} must be a string, not {type(value).__name__}")


def _structured(payload: dict, rest: bool) -> Response:
    status = payload.get("statusCode", 200)
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if type(status) is not int or not 100 <= status <= 599:
        raise GatewayError(f"statusCode must be an HTTP status, not {status!r}")
    pairs = []
    headers = payload.get("headers") or {}
    multi = (payload.get("multiValueHeaders") or {}) if rest else {}
    if not isinstance(headers, dict) or not isinstance(multi, dict):
        raise GatewayError("headers and multiValueHeaders must be objects")
    for name, values in multi.items():
        if not isinstance(values, list):
            raise GatewayError(f"multiValueHeaders[{name!r}] must be a list")
        pairs.extend((name, _header_value(name, v)) for v in values)
    for name, value in headers.items():
        value = _header_value(name, value)
        if (name, value) not in pairs:
            pairs.append((name, value))
    cookies = payload.get("cookies")
    if not rest and isinstance(cookies, list):
        pairs.extend(("Set-Cookie", _header_value("cookies", c)) for c in cookies)
    for name, value in pairs:
        if not name or any(c in name for c in "\r\n:\0 ") or any(c in value for c in "\r\n\0"):
            raise GatewayError(f"header {name!r} has a character not allowed in headers")
    body = payload.get("body")
    if body is None:
        body = ""
    elif isinstance(body, (bool, int, float)):
        # API Gateway reads a JSON scalar as the string it spells (a body of
        # 42 answers "42": aws-sam-cli's start-api follows it, issue 1124).
        body = json.dumps(body)
    if not isinstance(body, str):
        raise GatewayError(f"body must be a string, not {type(body).__name__} "
                           "(json.dumps it)")
    # A REST API reads "base64Encoded" first when it is there (undocumented;
    # aws-sam-cli's start-api does the same from AWS's trials).
    field = "base64Encoded" if rest and payload.get("base64Encoded") is not None \
        else "isBase64Encoded"
    encoded = payload.get(field, False)
    if encoded in ("true", "True", "false", "False"):
        encoded = encoded in ("true", "True")
    if not isinstance(encoded, bool):
        raise GatewayError(f"{field} must be true or false")
    data = body.encode("utf-8")
    if encoded and data:
        try:
            data = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise GatewayError("isBase64Encoded is true but the body is not base64") from None
    response = Response(data, status=status, headers=pairs)
    if not any(name.lower() == "content-type" for name, _ in pairs):
        response.headers["Content-Type"] = "application/json"
    return response


def http_api_answer(result) -> Response:
    """API Gateway's answer (payload 2.0) for a handler's return value."""
    payload = marshal(result)
    if isinstance(payload, dict) and "statusCode" in payload:
        return _structured(payload, rest=False)
    if payload is None:
        body = ""
    else:
        body = payload if isinstance(payload, str) else json.dumps(payload)
    return Response(body, status=200, mimetype="application/json")


def rest_api_answer(result) -> Response:
    """API Gateway's answer (REST, payload 1.0) for a handler's return value."""
    payload = marshal(result)
    if not isinstance(payload, dict):
        raise GatewayError(f"a REST API needs an object with statusCode and body, "
                           f"not {type(payload).__name__}")
    unknown = sorted(set(payload) - _REST_KEYS)
    if unknown:
        raise GatewayError(f"keys a REST API does not accept: {', '.join(unknown)}")
    return _structured(payload, rest=True)


def failed() -> Response:
    """``502 {"message": "Internal server error"}``, as API Gateway answers."""
    return Response(json.dumps(_FAILED), status=502, mimetype="application/json")


# -- calling ------------------------------------------------------------------------------


def call(func, request, site, tenant_root, rest: bool) -> Response:
    """Call a Lambda handler for ``request`` and answer as API Gateway does."""
    ctx = context.current()
    request_id = ctx.request_id if ctx is not None else "-"
    tenant = site.tenant if site is not None else "-"
    log_line = site.log_line if site is not None else (lambda line, level="info": None)
    budget = limits.current()
    memory = budget.memory_limit if budget is not None else None
    memory_mb = memory // 2**20 if memory else 0
    wall_s = budget.wall_s if budget is not None else None
    event = (rest_api_event if rest else http_api_event)(request, request_id, tenant)
    lambda_context = LambdaContext(request_id, tenant, memory_mb, wall_s, log_line)
    try:
        result = resolve(func(event, lambda_context))
    except Exception as exc:
        # The invocation failed: Lambda logs it, API Gateway answers 502.
        log_line(f"[ERROR] {format_tenant_traceback(exc, tenant_root)}", "error")
        return failed()
    try:
        return (rest_api_answer if rest else http_api_answer)(result)
    except GatewayError as exc:
        log_line(f"API Gateway could not use the handler's answer: {exc}", "error")
        return failed()


