"""Chat fan-out: one room with 1,000 members spread over 2 Daphne processes
sharing the real Redis (channel layer, a CHANNEL_LAYER_PREFIX of this run's
own) and one database. A logged-in member posts `--messages` messages, one
every `--interval` seconds; every member (anonymous readers on
bench/wsclient.py, half on each process) records when each arrives.

Longer than 400 lines: one benchmark, read top to bottom (servers, members,
the poster, the measurement, the report), and its baseline's setup.

Latency = member's receive time - the poster's send time (same clock, same
machine). The servers use a scratch PostgreSQL database (`--database sqlite` for a
scratch SQLite file). A post is stored (committed) before it is broadcast: the broadcast
carries the row's id, and afterwards the benchmark reads every id back from
the database. Target: p99 <= 150 ms, no message lost or duplicated.

Baseline in the same run (`--servers ours,stock`): the Channels tutorial's
chat on stock Daphne (bench/peers/stock_chat.py: a channel-layer group membership
per socket, same settings, same Message table, same store function).

Servers are pinned to CPU 0 (`--server-cpus`), this client to CPU 1.

    .venv/bin/python -m bench.chat_fanout [--members 1000] [--messages 50] [--interval 0.2] [--rounds 3]

Each round runs ours, then the baseline, on fresh servers; the summary is
the median p99 over the rounds (every round is in the JSON file, with a row
per message).
"""

import asyncio
import json
import os
import shlex
import sqlite3
import sys
import time
import uuid

from bench.chat_members import Member, sign_up
from bench.common import (
    CLIENT_BOUND_SHARE,
    ClientCpu,
    load_average,
    machine_state,
    median,
    percentile,
    raise_open_file_limit,
    server_environment,
    write_result,
)
from bench.fanout_clients import CpuSampler
from bench.peers.registry import SERVERS
from bench.processes import Server
from bench.runner import argument_parser, result_head, run
from bench.wsclient import close_all, connect, connect_many

TARGET_P99_MS = 150.0
CHAT_SERVERS = {"ours": "ours", "stock": "stock-chat"}  # this benchmark's kinds -> registry names


async def post_all(kind, poster, room, args, log_path):
    """--messages posts, --interval apart; {client id: when it was sent}."""
    sent = {}
    for index in range(args.messages):
        if not poster.is_open:
            raise RuntimeError(
                f"the server closed the poster's socket ({poster.close_code}); "
                f"it had received {poster.received[-3:]}; server log: {log_path}"
            )
        client_id = f"{kind}-{index}"
        sent[client_id] = time.time()
        poster.send_text(
            json.dumps({"action": "post", "room": room, "text": f"bench message {index}", "client_id": client_id})
        )
        await asyncio.sleep(args.interval)
    return sent


async def join_room(args, path, ports, session):
    """The members over every port, then the logged-in poster; each has had
    its "joined" frame."""
    started = time.monotonic()
    members = await connect_many(
        lambda index, port: Member("127.0.0.1", port, path),
        args.members,
        "127.0.0.1",
        ports,
        concurrency=args.concurrency,
        timeout=30.0,
    )
    await asyncio.wait_for(asyncio.gather(*(m.got_first for m in members)), 30)
    connect_seconds = time.monotonic() - started
    poster = await connect(
        lambda: Member("127.0.0.1", ports[0], path, [f"Cookie: sessionid={session}"]), "127.0.0.1", ports[0]
    )
    await asyncio.wait_for(poster.got_first, 10)
    return members, poster, connect_seconds


async def run_kind(kind, args, env, session):
    prefix = f"bench-chat-{kind}-{uuid.uuid4().hex[:8]}"
    env = {**env, "CHANNEL_LAYER_PREFIX": prefix}
    room = f"bench-{kind}-{uuid.uuid4().hex[:8]}"
    path = f"/ws/chat/{room}/"
    servers, members, poster = [], [], None
    sampler = CpuSampler()
    try:
        for index in range(args.processes):
            servers.append(
                Server(f"chat-{kind}-{index}", SERVERS[CHAT_SERVERS[kind]].argv(), env, cpus=args.server_cpus)
            )
        ports = [server.port for server in servers]
        members, poster, connect_seconds = await join_room(args, path, ports, session)
        print(f"  {kind}: {args.members} members connected over ports {ports} in {connect_seconds:.1f} s", flush=True)
        await asyncio.sleep(args.settle)  # let the joins' presence updates pass
        for member in members:
            member.received.clear()
        poster.received.clear()
        cpu = ClientCpu()
        for server in servers:
            server.start_window()
        sampler.start()
        load_before = load_average()
        sent = await post_all(kind, poster, room, args, servers[0].log_path)
        await asyncio.sleep(args.grace)
        client_share = cpu.share()
        server_shares = [round(server.window_share(), 3) for server in servers]
        load_after = load_average()
        await sampler.stop()
        closed = sum(1 for member in members if not member.is_open)
        await close_all(members + [poster])
    finally:
        for server in servers:
            server.stop()
    return analyse(kind, members, poster, sent, sampler, args, env) | {
        "room": room,
        "channel_layer_prefix": prefix,
        "connect_seconds": round(connect_seconds, 2),
        "client_cpu_share_average": round(client_share, 3),
        "server_cpu_share_average": server_shares,
        "connections_closed_by_server": closed,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "server_command": f"REDIS_URL={args.redis_url} CHANNEL_LAYER_PREFIX={prefix} "
        + " ".join(shlex.quote(part) for part in servers[0].command),
    }


def stored_texts(database_url, ids):
    """{id: text} of the message rows with these ids, read back from the
    servers' database."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            rows = [db.execute("SELECT id, text FROM realtime_message WHERE id = ?", (i,)).fetchone() for i in ids]
    else:
        import psycopg

        with psycopg.connect(database_url) as db:
            rows = db.execute("SELECT id, text FROM realtime_message WHERE id = ANY(%s)", (list(ids),)).fetchall()
    return {row[0]: row[1] for row in rows if row}


class ScratchPostgres:
    """A database of this run's own on the PostgreSQL at `server_url`
    (e.g. postgresql://postgres@127.0.0.1:5432), dropped afterwards."""

    def __init__(self, server_url):
        import psycopg

        self.server_url = server_url.rstrip("/")
        self.name = f"bench_chat_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(self.server_url + "/postgres", autocommit=True, connect_timeout=3) as db:
            db.execute(f'CREATE DATABASE "{self.name}"')
        self.url = f"{self.server_url}/{self.name}"

    def drop(self):
        import psycopg

        with psycopg.connect(self.server_url + "/postgres", autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def member_deliveries(members, sent, index_of):
    """(latencies, per message latencies, ids per message, last receive per
    message, lost, duplicated) over the members' received frames."""
    latencies, per_message, ids, last_receive = [], {cid: [] for cid in sent}, {}, {}
    lost = duplicated = 0
    for member in members:
        seen = {}
        for received_at, payload in member.received:
            frame = json.loads(payload)
            client_id = index_of.get(frame["message"]["text"]) if frame.get("type") == "message" else None
            if client_id is None:
                continue
            seen[client_id] = seen.get(client_id, 0) + 1
            if seen[client_id] > 1:
                continue
            ids.setdefault(client_id, set()).add(frame["message"]["id"])
            latency = received_at - sent[client_id]
            latencies.append(latency)
            per_message[client_id].append(latency)
            last_receive[client_id] = max(last_receive.get(client_id, 0.0), received_at)
        lost += len(sent) - len(seen)
        duplicated += sum(count - 1 for count in seen.values())
    return latencies, per_message, ids, last_receive, lost, duplicated


def poster_acks(poster, sent):
    """{client id: (ack latency, id)} and the errors the poster was sent."""
    acks, errors = {}, []
    for received_at, payload in poster.received:
        frame = json.loads(payload)
        if frame.get("type") == "ack":
            acks[frame["client_id"]] = (received_at - sent[frame["client_id"]], frame["id"])
        elif "error" in frame:
            errors.append(frame["error"])
    return acks, errors


def analyse(kind, members, poster, sent, sampler, args, env):
    index_of = {f"bench message {i}": f"{kind}-{i}" for i in range(args.messages)}
    latencies, per_message, ids, last_receive, lost, duplicated = member_deliveries(members, sent, index_of)
    acks, errors = poster_acks(poster, sent)
    # Stored first: every id a member received is a row with that text.
    all_ids = sorted({i for values in ids.values() for i in values})
    stored = stored_texts(env["DATABASE_URL"], all_ids)
    consistent_ids = all(len(values) == 1 for values in ids.values())
    all_stored = all(stored.get(next(iter(ids[cid]))) == text for text, cid in index_of.items() if cid in ids)
    busy = [sampler.busy_share(sent[cid], last_receive[cid]) for cid in sent if cid in last_receive]
    busy = [value for value in busy if value is not None]
    per_message_p99 = [percentile(values, 0.99) for values in per_message.values() if values]
    ack_latencies = [value[0] for value in acks.values()]
    result = {
        "kind": kind,
        "members": len(members),
        "messages": len(sent),
        "deliveries": len(latencies),
        "expected_deliveries": len(members) * len(sent),
        "p50_ms": ms(percentile(latencies, 0.50)),
        "p99_ms": ms(percentile(latencies, 0.99)),
        "max_ms": ms(max(latencies) if latencies else None),
        "worst_message_p99_ms": ms(max(per_message_p99) if per_message_p99 else None),
        "ack_p50_ms": ms(percentile(ack_latencies, 0.5)),
        "acks": len(ack_latencies),
        "poster_errors": errors,
        "lost": lost,
        "duplicated": duplicated,
        "same_id_everywhere": consistent_ids,
        "every_delivered_id_is_a_stored_row": all_stored and bool(all_ids),
        "client_busy_share_median": round(median(busy), 3) if busy else None,
        "client_busy_share_max": round(max(busy), 3) if busy else None,
    }
    result["messages_over_target_p99"] = sum(1 for value in per_message_p99 if value * 1000.0 > TARGET_P99_MS)
    result["per_message"] = per_message_rows(per_message, sent, last_receive, sampler)
    result["client_bound"] = bool(busy) and max(busy) > CLIENT_BOUND_SHARE
    result["meets_target"] = (
        result["p99_ms"] is not None
        and result["p99_ms"] <= TARGET_P99_MS
        and lost == 0
        and duplicated == 0
        and result["every_delivered_id_is_a_stored_row"]
        and len(ack_latencies) == len(sent)
    )
    return result


def per_message_rows(per_message, sent, last_receive, sampler):
    return [
        {
            "message": cid,
            "delivered": len(values),
            "p50_ms": ms(percentile(values, 0.5)),
            "p99_ms": ms(percentile(values, 0.99)),
            "max_ms": ms(max(values)) if values else None,
            "client_busy_share": round(sampler.busy_share(sent[cid], last_receive[cid]) or 0, 3)
            if cid in last_receive
            else None,
        }
        for cid, values in per_message.items()
    ]


def ms(seconds):
    return None if seconds is None else round(seconds * 1000.0, 1)


def print_result(result):
    flag = " CLIENT-BOUND" if result["client_bound"] else ""
    print(
        f"  {result['kind']:>5}: {result['members']} members, {result['messages']} messages: "
        f"p50 {result['p50_ms']} ms  p99 {result['p99_ms']} ms  max {result['max_ms']} ms  "
        f"(worst message p99 {result['worst_message_p99_ms']} ms, {result['messages_over_target_p99']} of "
        f"{result['messages']} messages over {TARGET_P99_MS:g} ms; sender's ack p50 {result['ack_p50_ms']} ms)"
    )
    print(
        f"         delivered {result['deliveries']}/{result['expected_deliveries']}  "
        f"not delivered within the grace period {result['lost']}  "
        f"duplicated {result['duplicated']}  acks {result['acks']}  stored first "
        f"{result['every_delivered_id_is_a_stored_row']}  errors {result['poster_errors'][:2]}"
    )
    print(
        f"         client busy during deliveries: median {result['client_busy_share_median']}, max "
        f"{result['client_busy_share_max']}{flag}; server CPU {result['server_cpu_share_average']}; "
        f"load {result['load_average_before'][0]:.2f}->{result['load_average_after'][0]:.2f}",
        flush=True,
    )


async def main(args):
    import redis

    try:
        redis.Redis.from_url(args.redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        sys.exit(f"this benchmark needs a running Redis at {args.redis_url} ({error})")
    state = machine_state()
    state["open_file_limit"] = raise_open_file_limit(args.members * 2 + 1024)
    # One database, one secret: a session made on one server is valid on
    # every server of the run. No posting limit for the poster. Persistent
    # database connections, as docker-compose.yml runs them.
    scratch = None
    overrides = {}
    if args.database == "postgresql":
        # Several processes writing one SQLite file queue on its single write
        # lock (the tracing recorder writes there too), which measures SQLite
        # rather than the fan-out; a multi-process deployment runs PostgreSQL.
        try:
            scratch = ScratchPostgres(args.postgres_url)
        except Exception as error:
            sys.exit(
                f"this benchmark needs PostgreSQL at {args.postgres_url} ({error}); "
                "pass --database sqlite to use a scratch SQLite file"
            )
        overrides["DATABASE_URL"] = scratch.url
    try:
        env = server_environment(
            REDIS_URL=args.redis_url, CHAT_POST_RATE_COUNT=0, DATABASE_CONN_MAX_AGE=60, **overrides
        )
        await run_all(args, state, env)
    finally:
        if scratch is not None:
            scratch.drop()


def summarize(args, results):
    """Each kind's median p99 over the rounds, the target and the ratio to stock."""
    summary = {"target_p99_ms": TARGET_P99_MS, "rounds": args.rounds}
    for kind in args.servers:
        runs = [result for result in results if result["kind"] == kind]
        summary[f"{kind}_p99_ms_each_round"] = [result["p99_ms"] for result in runs]
        summary[f"{kind}_p99_ms_median"] = median([result["p99_ms"] for result in runs])
        summary[f"{kind}_p50_ms_median"] = median([result["p50_ms"] for result in runs])
        summary[f"{kind}_lost_total"] = sum(result["lost"] for result in runs)
    if "ours" in args.servers:
        ours = [result for result in results if result["kind"] == "ours"]
        summary["meets_target"] = summary["ours_p99_ms_median"] <= TARGET_P99_MS and all(
            result["lost"] == 0 and result["duplicated"] == 0 and result["every_delivered_id_is_a_stored_row"]
            for result in ours
        )
    if "ours" in args.servers and "stock" in args.servers and summary["ours_p99_ms_median"]:
        summary["stock_p99_over_ours"] = round(summary["stock_p99_ms_median"] / summary["ours_p99_ms_median"], 2)
    return summary


async def run_all(args, state, env):
    state["database"] = env["DATABASE_URL"].split("://")[0]
    print(
        f"chat fan-out: {args.members} members over {args.processes} Daphne processes on CPU "
        f"{args.server_cpus}, client on CPU {args.client_cpu}, Redis {args.redis_url}; "
        f"{args.messages} posts every {args.interval} s"
    )
    print(f"load average at start: {state['load_average_at_start']}")
    signup_server = Server("chat-signup", SERVERS["ours"].argv(), env, cpus=args.server_cpus)
    try:
        session = sign_up(signup_server.port, f"poster-{uuid.uuid4().hex[:8]}")
    finally:
        signup_server.stop()
    results = []
    # Rounds alternate the servers, so a busy spell on this shared machine
    # hits both; the summary takes each kind's median p99 over the rounds.
    for round_number in range(1, args.rounds + 1):
        for kind in args.servers:
            result = await run_kind(kind, args, env, session)
            result["round"] = round_number
            print_result(result)
            results.append(result)
    summary = summarize(args, results)
    print(f"summary: {summary}")
    path = write_result(
        args.output,
        {
            **result_head("chat_fanout", args, state),
            "parameters": {
                "members": args.members,
                "processes": args.processes,
                "messages": args.messages,
                "rounds": args.rounds,
                "interval_seconds": args.interval,
                "grace_seconds": args.grace,
                "lost": "a post a member had not received by grace_seconds after the last post",
                "server_cpus": args.server_cpus,
                "client_cpu": args.client_cpu,
                "latency": "member receive time minus the poster's send time",
                "database": args.database,
                "client": "bench/wsclient.py (asyncio Protocol on uvloop), anonymous members; one logged-in poster",
                "baseline": (
                    "bench/peers/stock_chat.py: Channels tutorial chat pattern on stock Daphne, same DB and layer"
                ),
            },
            "summary": summary,
            "results": results,
        },
    )
    print(f"written {os.path.relpath(path)}")


def parse_args(argv=None):
    parser = argument_parser(__doc__, "chat_fanout", rounds=3, redis=True)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--servers", default=["ours", "stock"], type=lambda text: text.split(","))
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--settle", type=float, default=2.0)
    parser.add_argument("--grace", type=float, default=2.0)
    parser.add_argument(
        "--database",
        choices=["postgresql", "sqlite"],
        default="postgresql",
        help="the servers' database: a scratch PostgreSQL database (default) or SQLite file",
    )
    parser.add_argument(
        "--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    run(main, parse_args())
