"""GET /counter/ : module globals live while the module is warm."""

hits = 0


def get():
    global hits
    hits += 1
    return {"hits": hits}
