"""Latency buckets and histograms, as x/net/trace keeps them: the summary's
eight "at least" buckets (≥0s … ≥100s), and log-2 histograms of every
trace's latency (counted even for traces retention drops)."""

import collections
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

