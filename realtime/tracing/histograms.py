"""Latency buckets and histograms, as x/net/trace keeps them: the summary's
eight "at least" buckets (≥0s … ≥100s), and log-2 histograms of every
trace's latency (counted even for traces retention drops)."""

import collections
import math
import operator

# Latency buckets of the summary, as in x/net/trace's /debug/requests.
BUCKET_BOUNDS = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0, 10.0, 100.0)
BUCKET_LABELS = ("≥0s", "≥50ms", "≥100ms", "≥200ms", "≥500ms", "≥1s", "≥10s", "≥100s")

# Histogram buckets: bucket i holds [2**(i-1), 2**i) microseconds (bucket 0: < 1 µs),
# the log-2 buckets of x/net/trace's histogram.
HISTOGRAM_BUCKETS = 38

MICROS_PER_SECOND = 1e6


def bucket_of(elapsed):
    """Index of the highest summary bucket whose lower bound `elapsed` reaches."""
    if elapsed < 0.05:
        return 0
    index = 0
    for i, bound in enumerate(BUCKET_BOUNDS):
        if elapsed >= bound:
            index = i
    return index


def histogram_bucket_bounds(index):
    """[low, high) of histogram bucket `index`, in seconds."""
    low = 0 if index == 0 else 2 ** (index - 1)
    return low / 1e6, (2**index) / 1e6


class Histogram:
    """count, sum, sum of squares and log-2 bucket counts of latencies."""

    __slots__ = ("count", "total", "total_sq", "buckets")

    def __init__(self):
        self.count = 0
        self.total = 0.0
        self.total_sq = 0.0
        self.buckets = [0] * HISTOGRAM_BUCKETS

    def add(self, elapsed):
        self.count += 1
        self.total += elapsed
        self.total_sq += elapsed * elapsed
        micros = int(elapsed * 1e6).bit_length()
        self.buckets[micros if micros < HISTOGRAM_BUCKETS else HISTOGRAM_BUCKETS - 1] += 1

    def add_many(self, values):
        self.count += len(values)
        self.total += sum(values)
        self.total_sq += sum(map(operator.mul, values, values))
        buckets = self.buckets
        last = HISTOGRAM_BUCKETS - 1
        micros = map(int, map(MICROS_PER_SECOND.__mul__, values))
        for index, n in collections.Counter(map(int.bit_length, micros)).items():
            buckets[index if index < last else last] += n

    def merge(self, other):
        self.count += other.count
        self.total += other.total
        self.total_sq += other.total_sq
        for index, n in enumerate(other.buckets):
            self.buckets[index] += n


# -- what the histogram page shows ------------------------------------------------


def format_seconds(value):
    if value == 0:
        return "0"
    if value < 1e-3:
        return f"{value * 1e6:.0f}µs"
    if value < 1:
        return f"{value * 1e3:.3g}ms"
    return f"{value:.3g}s"


def histogram_view_data(rows):
    """Merge LatencyHistogram rows into count, mean, stddev, median and the
    bucket table (first to last non-empty bucket)."""
    count = sum(row.count for row in rows)
    if not count:
        return {"count": 0}
    total = sum(row.total for row in rows)
    total_sq = sum(row.total_sq for row in rows)
    buckets = [0] * HISTOGRAM_BUCKETS
    for row in rows:
        for index, n in row.buckets.items():
            buckets[int(index)] += n
    mean = total / count
    variance = max(0.0, total_sq / count - mean * mean)
    nonempty = [i for i, n in enumerate(buckets) if n]
    table = []
    cumulative = 0
    largest = max(buckets)
    median = None
    for index in range(nonempty[0], nonempty[-1] + 1):
        n = buckets[index]
        low, high = histogram_bucket_bounds(index)
        if median is None and n and (cumulative + n) * 2 >= count:
            # Linear interpolation inside the bucket holding the middle value.
            median = low + (high - low) * ((count / 2 - cumulative) / n)
        cumulative += n
        table.append(
            {
                "low": format_seconds(low),
                "high": format_seconds(high),
                "count": n,
                "percent": f"{100 * n / count:.2f}",
                "cumulative": f"{100 * cumulative / count:.2f}",
                "bar": round(100 * n / largest),
            }
        )
    return {
        "count": count,
        "mean": format_seconds(mean),
        "stddev": format_seconds(math.sqrt(variance)),
        "median": format_seconds(median or 0),
        "table": table,
    }
