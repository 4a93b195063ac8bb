"""What the soaks (bench.soak, bench.churn_soak) share: a tick socket that
only counts, the least-squares trend of a server's memory, and the check
that their Redis answers."""

import sys

from bench.wsclient import WebSocketClientProtocol


class Counter(WebSocketClientProtocol):
    """Counts what it receives; keeps nothing else (a soak must not grow the
    client either)."""

    def __init__(self, host, port, path):
        super().__init__(host, port, path)
        self.count = 0

    def on_message(self, opcode, payload):
        self.count += 1


def trend(samples, key, warmup):
    """Least-squares slope (MiB per minute) and rise over the measured span of
    the samples after `warmup` seconds."""
    points = [(s["t"], s[key]) for s in samples if s["t"] >= warmup]
    if len(points) < 3:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    covariance = sum((t - mean_t) * (v - mean_v) for t, v in points)
    variance = sum((t - mean_t) ** 2 for t, _ in points)
    slope = covariance / variance if variance else 0.0  # MiB per second
    span = points[-1][0] - points[0][0]
    rise = slope * span
    return {
        "slope_mib_per_minute": round(slope * 60, 3),
        "rise_over_span_mib": round(rise, 2),
        "span_seconds": round(span, 1),
        "mean_mib": round(mean_v, 1),
        "no_upward_trend": rise < max(2.0, 0.02 * mean_v),
    }


def check_redis(url):
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        sys.exit(f"the soak needs a running Redis at {url} ({error})")
