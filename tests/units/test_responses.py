"""Turning handler return values into plain responses, as Flask does."""

import pytest

from muxserver.http.responses import BadReturnValue
from muxserver.http.responses import status_line
from muxserver.http.responses import to_plain
from muxserver.tenant_api.response import Response


def test_str_bytes_dict_and_list():
    assert to_plain("hi")[:3] == (200, [("Content-Type", "text/html; charset=utf-8")], b"hi")
    assert to_plain(b"\x00")[2] == b"\x00"
    code, headers, body, _ = to_plain({"b": 1, "a": [1, 2]})
    assert headers == [("Content-Type", "application/json")] and body.startswith(b"{")


def test_tuples_set_status_and_headers():
    assert to_plain(("made", 201))[0] == 201
    code, headers, body, _ = to_plain(("x", {"X-A": "1"}))
    assert code == 200 and ("X-A", "1") in headers
    code, headers, _, _ = to_plain(("x", "404 NOT FOUND", [("X-B", "2")]))
    assert code == 404 and ("X-B", "2") in headers


def test_response_object_and_generators_stream():
    code, headers, body, stream = to_plain(Response("r", status=202, mimetype="text/plain"))
    assert code == 202 and body == b"r" and stream is None
    code, _, body, stream = to_plain((c for c in "ab"))
    assert body is None and list(stream) == ["a", "b"]


@pytest.mark.parametrize("value", [None, 3.5, ("x", 99), ("x", 1, 2, 3), object()])
def test_anything_else_is_refused(value):
    with pytest.raises(BadReturnValue):
        to_plain(value)


def test_status_lines():
    assert status_line(200) == "200 OK" and status_line(599) == "599 Unknown"


@pytest.mark.parametrize("wrap", [lambda body: body, lambda body: (body, 200)], ids=["str", "tuple"])
def test_a_body_over_the_cap_is_refused_whichever_way_it_comes(wrap):
    from muxserver.http.responses import MAX_BODY_BYTES

    with pytest.raises(BadReturnValue, match="response body is over"):
        to_plain(wrap("x" * (MAX_BODY_BYTES + 1)))
    assert len(to_plain(wrap("x" * MAX_BODY_BYTES))[2]) == MAX_BODY_BYTES


def test_a_front_servers_directives_are_dropped_and_the_rest_pass():
    headers = {"X-Accel-Redirect": "/other/", "x-sendfile": "/etc/passwd",
               "X-LIGHTTPD-send-file": "/etc/passwd", "X-Lighttpd-Send-Tempfile": "/tmp/x",
               "X-Accel-Buffering": "no", "X-Accel-Limit-Rate": "1024"}
    _, sent, _, _ = to_plain(("x", headers))
    assert [name for name, _ in sent if name.lower() != "content-type"] == \
        ["X-Accel-Buffering", "X-Accel-Limit-Rate"]
