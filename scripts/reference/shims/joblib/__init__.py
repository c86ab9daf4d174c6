"""Serial stand-in for joblib (not installed here)."""


def delayed(f):
    return lambda *a, **k: (f, a, k)


class Parallel:
    def __init__(self, *a, **k):
        pass

    def __call__(self, tasks):
        return [f(*a, **k) for f, a, k in tasks]


def cpu_count():
    return 1
