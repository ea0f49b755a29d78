"""POST /echo-json/ with a JSON body: a dict return value becomes JSON."""


def post(request):
    data = request.get_json(silent=True)
    if data is None:
        return {"error": "send a JSON body"}, 400
    return {"you_sent": data, "keys": sorted(data) if isinstance(data, dict) else None}
