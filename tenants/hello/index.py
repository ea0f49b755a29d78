"""GET /hello/ : the smallest endpoint, a function named after the method."""


def get():
    return "Hello from muxserver!\n"
