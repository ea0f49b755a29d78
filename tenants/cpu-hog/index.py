"""GET /cpu-hog/ spins forever; the CPU limit (200 ms here) answers 503
and every other tenant keeps being served."""


def get():
    n = 0
    while True:
        n += 1
