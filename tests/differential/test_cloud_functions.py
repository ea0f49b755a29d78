"""Cloud Functions of our own, run by functions-framework (Cloud Functions'
own Python runtime) and by muxserver's ``gcf`` form in the same test."""

import pytest

from tests.differential.harness import CloudFunctionSide

MAIN = """
    import functions_framework
    from flask import jsonify


    class Order:
        def __init__(self, item, qty):
            self.item = item
            self.qty = qty

        @classmethod
        def from_dict(cls, data):
            return cls(data["item"], int(data["qty"]))


    class Receipt:
        def __init__(self, order):
            self.text = f"{order.qty} x {order.item}"

        def to_dict(self):
            return {"receipt": self.text, "ok": True}


    @functions_framework.typed
    def order(o: Order):
        if o.qty < 0:
            raise ValueError("negative")
        return Receipt(o)


    @functions_framework.typed(Order)
    def builtin(o):
        return {"item": o.item} if o.qty else None


    @functions_framework.http
    def hello(request):
        if request.path == "/boom":
            return 1 / 0
        return jsonify(hello=request.args.get("name", "World"), path=request.path)
    """


def _files(target):
    return {"main.py": MAIN,
            "tenant.toml": f"[function]\nentrypoint = 'main.{target}'\nform = 'gcf'\n"}


@pytest.mark.parametrize("target", ["order", "builtin"])
def test_typed_functions_answer_as_functions_framework(both, target):
    pair = both(_files(target), module=f"main.py:{target}", side_class=CloudFunctionSide)
    pair.post("/", json={"item": "tea", "qty": 2})
    pair.post("/any/path", json={"item": "tea", "qty": 0})
    pair.post("/", json={"item": "tea", "qty": -1}, compare=("Content-Type", "X-Google-Status"))
    pair.post("/", json={"qty": 1})  # from_dict fails: the crash answer
    pair.post("/", data="not json", content_type="text/plain")
    pair.get("/", compare=("Content-Type",))


def test_http_functions_and_the_crash_answer(both):
    pair = both(_files("hello"), module="main.py:hello", side_class=CloudFunctionSide)
    pair.get("/?name=Ann")
    pair.get("/deep/path")
    pair.get("/robots.txt")
    pair.get("/favicon.ico")
    pair.get("/boom", compare=("Content-Type", "X-Google-Status"))
