"""AWS Lambda behind API Gateway (``form = "lambda"``: HTTP API, payload 2.0;
``"lambda-rest"``: REST API, payload 1.0): the event, the context and the
answer have the shapes AWS documents (the API Gateway developer guide's
"payload format version" examples, aws-lambda-powertools' test events, the
Python runtime's context object). Lambda's runtime cannot run here, so the
expected shapes are written out."""

import base64
import json
import socket

from werkzeug.test import Client

ECHO = """
import json

def handler(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"event": event, "context": {
                "aws_request_id": context.aws_request_id,
                "function_name": context.function_name,
                "function_version": context.function_version,
                "invoked_function_arn": context.invoked_function_arn,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "log_group_name": context.log_group_name,
                "log_stream_name": context.log_stream_name,
                "identity": [context.identity.cognito_identity_id,
                             context.identity.cognito_identity_pool_id],
                "client_context": context.client_context,
                "remaining": context.get_remaining_time_in_millis()}})}
"""

V2_KEYS = {"version", "routeKey", "rawPath", "rawQueryString", "headers", "requestContext",
           "isBase64Encoded"}
V2_CONTEXT_KEYS = {"accountId", "apiId", "domainName", "domainPrefix", "http", "requestId",
                   "routeKey", "stage", "time", "timeEpoch"}
V1_KEYS = {"resource", "path", "httpMethod", "headers", "multiValueHeaders",
           "queryStringParameters", "multiValueQueryStringParameters", "pathParameters",
           "stageVariables", "requestContext", "body", "isBase64Encoded"}
V1_CONTEXT_KEYS = {"accountId", "apiId", "domainName", "domainPrefix", "extendedRequestId",
                   "httpMethod", "identity", "path", "protocol", "requestId", "requestTime",
                   "requestTimeEpoch", "resourceId", "resourcePath", "stage"}


def _tenant(tenants, name, form, source, limits=""):
    tenants.add(name, {"fn.py": source,
                       "tenant.toml": f"{limits}[function]\nentrypoint = 'fn.handler'\nform = '{form}'\n"})


def test_the_http_api_event_and_context_have_payload_2_0s_shape(tenants):
    _tenant(tenants, "v2", "lambda", ECHO, "[limits]\nmemory_mb = 256\nwall_s = 20\n")
    app = tenants.app()
    client = Client(app)
    client.set_cookie("cookie1", "a", domain="localhost")
    client.set_cookie("cookie2", "b", domain="localhost")
    answer = client.post("/v2/my/path?parameter1=value1&parameter1=value2&parameter2=value",
                         data="Hello from client!", headers={"X-Header": "v", "User-Agent": "agent",
                                                              "Content-Type": "text/plain"})
    assert answer.status_code == 200
    event, context = answer.json["event"], answer.json["context"]
    assert set(event) == V2_KEYS | {"cookies", "queryStringParameters", "body"}
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/my/path"
    assert event["rawQueryString"] == "parameter1=value1&parameter1=value2&parameter2=value"
    assert event["queryStringParameters"] == {"parameter1": "value1,value2", "parameter2": "value"}
    assert sorted(event["cookies"]) == ["cookie1=a", "cookie2=b"]
    assert event["headers"]["x-header"] == "v" and "cookie" not in event["headers"]
    assert all(name == name.lower() for name in event["headers"])
    assert event["body"] == "Hello from client!" and event["isBase64Encoded"] is False
    request_context = event["requestContext"]
    assert set(request_context) == V2_CONTEXT_KEYS
    assert request_context["http"] == {"method": "POST", "path": "/my/path", "protocol": "HTTP/1.1",
                                       "sourceIp": "", "userAgent": "agent"}
    assert request_context["requestId"] == answer.headers["X-Request-Id"]
    assert request_context["stage"] == "$default" and isinstance(request_context["timeEpoch"], int)
    assert context["aws_request_id"] == answer.headers["X-Request-Id"]
    assert context["function_name"] == "v2" and context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"].endswith(":function:v2")
    assert context["memory_limit_in_mb"] == "256"  # a string, as the Python runtime has it
    assert context["log_group_name"] == "/aws/lambda/v2"
    assert context["identity"] == [None, None] and context["client_context"] is None
    assert 0 < context["remaining"] <= 20_000

    plain = Client(app).get("/v2/")
    event = plain.json["event"]
    assert set(event) == V2_KEYS  # no body, query or cookies: the keys are absent
    binary = client.post("/v2/up", data=b"\xff\x00\x01", content_type="application/octet-stream")
    assert binary.json["event"]["isBase64Encoded"] is True
    assert base64.b64decode(binary.json["event"]["body"]) == b"\xff\x00\x01"


def test_the_rest_api_event_has_payload_1_0s_shape(tenants):
    _tenant(tenants, "v1", "lambda-rest", ECHO)
    client = Client(tenants.app())
    answer = client.get("/v1/my/path?parameter1=value1&parameter1=value2&parameter2=value",
                        headers={"Header1": "value1"})
    event = answer.json["event"]
    assert set(event) == V1_KEYS
    assert event["resource"] == "/{proxy+}" and event["path"] == "/my/path"
    assert event["httpMethod"] == "GET" and event["pathParameters"] == {"proxy": "my/path"}
    assert event["queryStringParameters"] == {"parameter1": "value2", "parameter2": "value"}
    assert event["multiValueQueryStringParameters"] == {"parameter1": ["value1", "value2"],
                                                        "parameter2": ["value"]}
    assert event["headers"]["Header1"] == "value1"
    assert event["multiValueHeaders"]["Header1"] == ["value1"]
    assert event["body"] is None and event["isBase64Encoded"] is False
    assert event["stageVariables"] is None
    assert set(event["requestContext"]) == V1_CONTEXT_KEYS
    assert event["requestContext"]["resourcePath"] == "/{proxy+}"
    assert event["requestContext"]["identity"]["sourceIp"] == ""
    root = client.get("/v1/").json["event"]
    assert root["resource"] == "/" and root["pathParameters"] is None
    assert root["queryStringParameters"] is None and root["multiValueQueryStringParameters"] is None



def test_a_rest_api_event_keeps_header_names_as_the_client_spelled_them(tenants, live):
    """REST APIs (payload 1.0) pass names as sent — AWS's own sample reads
    ``event["headers"]["day"]`` — and a repeated header's values apart."""
    _tenant(tenants, "v1", "lambda-rest", ECHO)
    server = live()
    head = (b"GET /v1/demo?name=Martha HTTP/1.1\r\nHost: 127.0.0.1\r\nday: Thursday\r\n"
            b"x-amzn-vpce-id: vpce-1\r\nX-Multi: a\r\nX-Multi: b\r\nCookie: a=1\r\n"
            b"cookie: b=2\r\nConnection: close\r\n\r\n")
    with socket.create_connection(("127.0.0.1", server.server.port), timeout=10) as sock:
        sock.sendall(head)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    event = json.loads(data.partition(b"\r\n\r\n")[2])["event"]
    assert event["headers"]["day"] == "Thursday" and "Day" not in event["headers"]
    assert event["headers"]["x-amzn-vpce-id"] == "vpce-1"
    assert event["headers"]["X-Multi"] == "b"
    assert event["multiValueHeaders"]["X-Multi"] == ["a", "b"]
    assert event["multiValueHeaders"]["Cookie"] == ["a=1", "b=2"]
    assert event["headers"]["X-Forwarded-Proto"] == "http"
    assert event["multiValueHeaders"]["X-Forwarded-For"] == ["127.0.0.1"]


ANSWERS = """
import base64, decimal, json

async def handler(event, context):
    kind = event["rawPath"].strip("/") if "rawPath" in event else event["path"].strip("/")
    if kind == "string":
        return "Hello from Lambda!"
    if kind == "object":
        return {"message": "Hello", "price": decimal.Decimal("1.50")}
    if kind == "list":
        return [1, "two"]
    if kind == "none":
        return None
    if kind == "full":
        return {"statusCode": 201, "headers": {"X-A": "1", "Content-Type": "text/plain"},
                "multiValueHeaders": {"X-M": ["m1", "m2"]}, "cookies": ["a=1", "b=2; Path=/"],
                "body": "created"}
    if kind == "binary":
        return {"statusCode": 200, "headers": {"Content-Type": "image/png"},
                "body": base64.b64encode(b"\\x89PNG").decode(), "isBase64Encoded": True}
    if kind == "nobody":
        return {"statusCode": 204}
    if kind == "raises":
        raise RuntimeError("the handler failed")
    if kind == "unserialisable":
        return {"statusCode": 200, "body": {1, 2}}
    if kind == "dict-body":
        return {"statusCode": 200, "body": {"not": "a string"}}
    if kind == "extra-key":
        return {"statusCode": 200, "body": "x", "extra": 1}
    if kind == "bad-status":
        return {"statusCode": "oops", "body": "x"}
    if kind == "number-body":  # aws-sam-cli's start_api fixture echo_integer_body
        return {"statusCode": 200, "body": 42}
    if kind == "bool-body":
        return {"statusCode": 200, "body": True}
    if kind == "gif-base64encoded":  # ... base64_with_Base64Encoded_priority_response
        return {"statusCode": 200, "body": base64.b64encode(b"GIF8").decode(),
                "base64Encoded": event.get("queryStringParameters") is None,
                "isBase64Encoded": True, "headers": {"Content-Type": "image/gif"}}
    if kind == "base64-as-text":
        return {"statusCode": 200, "body": base64.b64encode(b"GIF8").decode(),
                "isBase64Encoded": "true"}
    return {"statusCode": 200, "body": kind}
"""

FAILED = (502, {"message": "Internal server error"})


def _answer(client, path):
    answer = client.get(path)
    return answer.status_code, answer.headers, answer.get_data()


def test_http_api_answers_as_payload_2_0_is_read(tenants):
    _tenant(tenants, "v2", "lambda", ANSWERS)
    app = tenants.app()
    client = Client(app)
    code, headers, body = _answer(client, "/v2/string")
    assert (code, headers["Content-Type"], body) == (200, "application/json", b"Hello from Lambda!")
    code, headers, body = _answer(client, "/v2/object")
    assert code == 200 and json.loads(body) == {"message": "Hello", "price": 1.50}
    assert _answer(client, "/v2/list")[2] == b'[1, "two"]'
    assert _answer(client, "/v2/none")[:1] == (200,)
    full = client.get("/v2/full")
    assert full.status_code == 201 and full.text == "created"
    assert full.headers["Content-Type"] == "text/plain" and full.headers["X-A"] == "1"
    # The tenant's Path=/ is its mount: tenants share the origin (round 15).
    assert full.headers.getlist("Set-Cookie") == ["a=1", "b=2; Path=/v2"]
    assert "X-M" not in full.headers  # multiValueHeaders is not part of payload 2.0
    binary = client.get("/v2/binary")
    assert binary.data == b"\x89PNG" and binary.headers["Content-Type"] == "image/png"
    assert _answer(client, "/v2/nobody")[0] == 204
    # A number or boolean body is its JSON text, as API Gateway reads it.
    assert _answer(client, "/v2/number-body")[::2] == (200, b"42")
    assert _answer(client, "/v2/bool-body")[::2] == (200, b"true")
    assert _answer(client, "/v2/base64-as-text")[::2] == (200, b"GIF8")
    # An HTTP API reads isBase64Encoded only (base64Encoded is skipped).
    assert _answer(client, "/v2/gif-base64encoded")[::2] == (200, b"GIF8")
    for broken in ("raises", "unserialisable", "dict-body", "bad-status"):
        answer = client.get(f"/v2/{broken}")
        assert (answer.status_code, answer.json) == FAILED, broken
    lines = "\n".join(e["line"] for e in app.logs.tail("v2"))
    assert "RuntimeError: the handler failed" in lines and 'File "v2/fn.py"' in lines
    assert "Unable to marshal response" in lines and "body must be a string" in lines


def test_rest_api_answers_as_payload_1_0_is_read(tenants):
    _tenant(tenants, "v1", "lambda-rest", ANSWERS)
    client = Client(tenants.app())
    full = client.get("/v1/full")
    assert full.status_code == 201 and full.text == "created"
    assert full.headers.getlist("X-M") == ["m1", "m2"] and "Set-Cookie" not in full.headers
    ok = client.get("/v1/fine")
    assert (ok.status_code, ok.text, ok.headers["Content-Type"]) == (200, "fine", "application/json")
    assert client.get("/v1/binary").data == b"\x89PNG"
    assert _answer(client, "/v1/number-body")[::2] == (200, b"42")
    # A REST API reads base64Encoded first when the answer has it.
    assert _answer(client, "/v1/gif-base64encoded")[::2] == (200, b"GIF8")
    assert _answer(client, "/v1/gif-base64encoded?text=1")[::2] == (
        200, base64.b64encode(b"GIF8"))
    for broken in ("string", "object", "list", "none", "raises", "extra-key", "dict-body"):
        answer = client.get(f"/v1/{broken}")
        assert (answer.status_code, answer.json) == FAILED, broken


def test_a_lambda_handler_is_stopped_by_its_limits_like_any_request(tenants):
    _tenant(tenants, "hog", "lambda", "def handler(event, context):\n    while True:\n        pass\n",
            "[limits]\ncpu_ms = 100\n")
    answer = Client(tenants.app()).get("/hog/")
    assert answer.status_code == 503 and "CPU time" in answer.text


ENVIRON = """
import os

def handler(event, context):
    return {"environ": dict(os.environ), "name": os.environ["AWS_LAMBDA_FUNCTION_NAME"]}
"""


def test_a_lambda_handler_sees_the_runtimes_environment_variables(tenants):
    """os.environ holds what the Lambda runtime sets for a function, with the
    values its context gives (serverless-patterns' apigw-http-api-lambda-cdk
    answers dict(os.environ)); the tenant's [env] wins; no region or keys."""
    tenants.add("fn", {"fn.py": ENVIRON, "tenant.toml":
                       "[limits]\nmemory_mb = 256\n[env]\nTZ = 'Europe/Paris'\n"
                       "[function]\nentrypoint = 'fn.handler'\nform = 'lambda'\n"})
    answer = Client(tenants.app()).get("/fn/")
    assert answer.status_code == 200, answer.text
    environ = answer.json["environ"]
    assert answer.json["name"] == "fn"
    assert environ["_HANDLER"] == "fn.handler"
    assert environ["AWS_EXECUTION_ENV"].startswith("AWS_Lambda_python3.")
    assert (environ["AWS_LAMBDA_FUNCTION_VERSION"], environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"],
            environ["AWS_LAMBDA_LOG_GROUP_NAME"]) == ("$LATEST", "256", "/aws/lambda/fn")
    assert environ["LAMBDA_TASK_ROOT"] == "/app" and environ["TZ"] == "Europe/Paris"
    assert not any(k.startswith(("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS", "AWS_SECRET",
                                 "AWS_SESSION")) for k in environ)
