"""What the fan-out benchmarks (bench.time_fanout, bench.c100k) make of the
ticks their clients received: per tick and overall latency, both ways —
the kernel's arrival time at the client's socket (SO_TIMESTAMPNS, so the
client's own scheduling cannot inflate it) and the moment the client's code
read it (what a program on that machine sees) — minus the tick's `iso`
(when the publisher sent it; same clock, same machine); lost ticks (a `seq`
missing: seq is the tick's Unix second) and duplicated ones (a `seq` seen
twice), per client.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime

from bench.common import CLIENT_BOUND_SHARE, median, percentile

_iso_cache = {}


def iso_seconds(iso):
    value = _iso_cache.get(iso)
    if value is None:
        value = _iso_cache[iso] = datetime.strptime(iso.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    return value


def ms(seconds):
    return None if seconds is None else round(seconds * 1000.0, 1)


def rounded(milliseconds):
    """A median of two figures in ms, to the same 0.1 ms as the rest."""
    return None if milliseconds is None else round(milliseconds, 1)


@dataclass
class Tally:
    """Everything counted over the clients' messages."""

    expected: range
    per_tick: dict = field(default_factory=dict)  # seq -> kernel-arrival latencies
    read_latencies: list = field(default_factory=list)
    last_arrival: dict = field(default_factory=dict)
    published: dict = field(default_factory=dict)  # seq -> the tick's iso, in seconds
    by_port: dict = field(default_factory=dict)
    lost_seqs: dict = field(default_factory=dict)  # seq -> clients that never got it
    duplicated_seqs: dict = field(default_factory=dict)  # seq -> clients that got it more than once
    inconsistent: set = field(default_factory=set)
    lost: int = 0
    duplicated: int = 0
    clients_with_loss: int = 0
    clients_with_duplicates: int = 0
    malformed: int = 0

    def __post_init__(self):
        self.per_tick = {seq: [] for seq in self.expected}

    def add_client(self, port, messages):
        """One client's [(arrived, read, payload)]."""
        port_latencies = self.by_port.setdefault(port, [])
        seen = {}
        for arrived, read, payload in messages:
            try:
                tick = json.loads(payload)
                seq, sent_at = tick["seq"], iso_seconds(tick["iso"])
            except (ValueError, KeyError, TypeError):
                self.malformed += 1
                continue
            if seq not in self.per_tick:
                continue
            seen[seq] = seen.get(seq, 0) + 1
            if self.published.setdefault(seq, sent_at) != sent_at:
                self.inconsistent.add(seq)  # two different ticks (isos) with one seq
            if seen[seq] > 1:
                continue  # a duplicate is counted, not timed twice
            self.per_tick[seq].append(arrived - sent_at)
            port_latencies.append(arrived - sent_at)
            self.read_latencies.append(read - sent_at)
            self.last_arrival[seq] = max(self.last_arrival.get(seq, 0.0), arrived)
        self.count_losses(seen)

    def count_losses(self, seen):
        missing = len(self.expected) - len(seen)
        extra = sum(count - 1 for count in seen.values())
        for seq, count in seen.items():
            if count > 1:
                self.duplicated_seqs[seq] = self.duplicated_seqs.get(seq, 0) + 1
        for seq in self.expected:
            if seq not in seen:
                self.lost_seqs[seq] = self.lost_seqs.get(seq, 0) + 1
        self.lost += missing
        self.duplicated += extra
        self.clients_with_loss += missing > 0
        self.clients_with_duplicates += extra > 0


def tick_rows(tally, sampler):
    rows = []
    for seq in tally.expected:
        latencies = tally.per_tick[seq]
        busy = None
        if seq in tally.published and seq in tally.last_arrival:
            busy = sampler.busy_share(tally.published[seq], tally.last_arrival[seq])
        rows.append(
            {
                "seq": seq,
                "delivered": len(latencies),
                # The first delivery: publishing and the Redis hop, before any
                # fan-out work; the rest is the spread of the fan-out itself.
                "first_ms": ms(min(latencies) if latencies else None),
                "p50_ms": ms(percentile(latencies, 0.50)),
                "p99_ms": ms(percentile(latencies, 0.99)),
                "max_ms": ms(max(latencies) if latencies else None),
                "client_busy_share": round(busy, 3) if busy is not None else None,
            }
        )
    return rows


def latency_figures(latencies, reads):
    """p50/p99/max both ways: kernel arrival, and when the client's code read it."""
    return {
        "p50_ms": ms(percentile(latencies, 0.50)),
        "p99_ms": ms(percentile(latencies, 0.99)),
        "max_ms": ms(max(latencies) if latencies else None),
        "min_ms": ms(min(latencies) if latencies else None),
        # The same deliveries timed when the client's code read them: includes
        # the client's own scheduling; the gap to the above is the client's lag.
        "read_p50_ms": ms(percentile(reads, 0.50)),
        "read_p99_ms": ms(percentile(reads, 0.99)),
        "read_max_ms": ms(max(reads) if reads else None),
    }


def analyse(clients, first_seq, ticks, sampler):
    """`clients`: [(port, [(arrived, read, payload), ...], close_code)]."""
    tally = Tally(range(first_seq, first_seq + ticks))
    for port, messages, _ in clients:
        tally.add_client(port, messages)
    rows = tick_rows(tally, sampler)
    latencies = [value for seq in tally.expected for value in tally.per_tick[seq]]
    busy = [row["client_busy_share"] for row in rows if row["client_busy_share"] is not None]
    return {
        "latency_is": "kernel arrival time at the client's socket (SO_TIMESTAMPNS) minus the tick's iso; "
        "read_*: the time the client's code read it minus the tick's iso",
        "deliveries": len(latencies),
        "expected_deliveries": len(clients) * ticks,
        **latency_figures(latencies, tally.read_latencies),
        "median_first_delivery_ms": rounded(median([row["first_ms"] for row in rows if row["first_ms"] is not None])),
        "worst_tick_p99_ms": max((row["p99_ms"] for row in rows if row["p99_ms"] is not None), default=None),
        "per_process": [
            {
                "port": port,
                "deliveries": len(values),
                "p50_ms": ms(percentile(values, 0.5)),
                "p99_ms": ms(percentile(values, 0.99)),
                "max_ms": ms(max(values) if values else None),
            }
            for port, values in sorted(tally.by_port.items())
        ],
        "lost": tally.lost,
        "duplicated": tally.duplicated,
        "lost_seqs": {str(seq): count for seq, count in sorted(tally.lost_seqs.items())},
        "duplicated_seqs": {str(seq): count for seq, count in sorted(tally.duplicated_seqs.items())},
        "clients_with_loss": tally.clients_with_loss,
        "clients_with_duplicates": tally.clients_with_duplicates,
        "malformed_messages": tally.malformed,
        "ticks_with_inconsistent_payload": sorted(tally.inconsistent),
        "client_busy_share_median": median(busy),
        "client_busy_share_max": max(busy) if busy else None,
        "client_bound_ticks": sum(1 for value in busy if value > CLIENT_BOUND_SHARE),
        "ticks": rows,
    }
