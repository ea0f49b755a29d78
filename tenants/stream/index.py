"""GET /stream/ : a generator streams its chunks."""


def get():
    def lines():
        for i in range(5):
            yield f"line {i}\n"

    return lines()
