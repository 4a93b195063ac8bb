"""`make chaos` (`python -m scripts.chaos --seed N`): the chat under faults.

Topology (scripts/chaos/topology.py, every process its own): a private
PostgreSQL, Redis behind three Sentinels, two `python -m realtime.server`
processes. A dozen logged-in members (scripts/chaos/clients.py, doing what
static/realtime/chat.js does, reconnecting as through nginx's least_conn:
to the server with fewer members, not to one that refuses) post to one
room every 100-300 ms while these
faults are injected one at a time, in an order and with targets drawn from
the seed, a few seconds of calm between them:

  kill_server       kill -9 a server, start it again on its port after 3 s
  kill_redis        kill -9 Redis (master and replica), start them again after 3 s
  stop_server       SIGSTOP a server for 5 s
  restart_postgres  pg_ctl restart -m fast
  abort_sockets     half the members' TCP connections cut without a close
  failover          SENTINEL FAILOVER: the replica becomes the master

Members stop posting the moment the last fault is over.

Then, from the database and from every member's view: each acknowledged
post stored exactly once, nothing given up as failed stored, the room's
offsets 1..n; every member connected at the end saw every acknowledged post,
once, in order, within RECOVERY_LIMIT s of its ack or of the end of the
fault that held it up; both servers alive; each
server's log says each outage at most once each way, and holds no traceback.
One summary line; exit status 1 if anything failed.

Why a program and not a pytest test: it is one campaign with a summary
line, bounded to a couple of minutes, run by `make chaos` and by .ci/run
after `make test`, never by `make test` itself (the test helpers of
tests/support are reused).
"""

import argparse
import asyncio
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid

import psycopg

from scripts.chaos.clients import PageClient
from scripts.chaos.topology import MASTER_NAME, Topology
from tests.support.chat import http_signup

MEMBERS = 12
CALM_SECONDS = 5.0  # of posting between faults
# Nobody posts once the last fault is over: a member that missed something
# in it learns it from no later change (no hole to see); the server must say so.
RECOVERY_LIMIT = 5.0
SETTLE_TIMEOUT = 40.0  # for pending posts and the last deliveries at the end
STARTED = time.monotonic()


def say(text):
    elapsed = time.monotonic() - STARTED
    print(f"[chaos {time.strftime('%H:%M:%S')} +{elapsed:5.1f}s] {text}", file=sys.stderr, flush=True)


# -- the faults ------------------------------------------------------------------------------


async def kill_server(topology, members, rng):
    index = rng.randrange(2)
    topology.servers[index].kill()
    await asyncio.sleep(3)
    await asyncio.to_thread(topology.start_server, index)
    return f"server {index}"


async def kill_redis(topology, members, rng):
    # The master and the replica alike: after a failover a server may still
    # be on the old master (a replica now) until the Sentinels close its
    # connections; killing only the new one could miss it.
    master = await asyncio.to_thread(topology.kill_redis)
    await asyncio.sleep(3)
    await asyncio.to_thread(topology.restart_redis, master)
    return f"master :{master} and its replica"


async def stop_server(topology, members, rng):
    index = rng.randrange(2)
    process = topology.servers[index].process
    process.send_signal(signal.SIGSTOP)
    await asyncio.sleep(5)
    process.send_signal(signal.SIGCONT)
    return f"server {index}"


async def restart_postgres(topology, members, rng):
    await asyncio.to_thread(topology.cluster.restart)
    return "pg_ctl restart -m fast"


async def abort_sockets(topology, members, rng):
    chosen = rng.sample(members, len(members) // 2)
    for member in chosen:
        member.abort()
    return f"{len(chosen)} members"


async def failover(topology, members, rng):
    old = await asyncio.to_thread(topology.master_port)
    deadline = time.monotonic() + 20
    while True:  # a replica still syncing (after kill_redis) is refused: NOGOODSLAVE
        try:
            await asyncio.to_thread(topology.sentinel().execute_command, "SENTINEL", "FAILOVER", MASTER_NAME)
            break
        except Exception as error:
            if time.monotonic() > deadline:
                raise RuntimeError(f"SENTINEL FAILOVER kept failing: {error}") from None
            await asyncio.sleep(0.5)
    while (new := await asyncio.to_thread(topology.master_port)) == old:
        if time.monotonic() > deadline:
            raise RuntimeError("the failover did not happen within 20 s")
        await asyncio.sleep(0.1)
    return f"master :{old} -> :{new}"


FAULTS = [kill_server, kill_redis, stop_server, restart_postgres, abort_sockets, failover]


# -- the run ---------------------------------------------------------------------------------


async def campaign(topology, rng, room):
    say("signing up the members")
    sessions = [
        await asyncio.to_thread(http_signup, topology.servers[0], f"member{n}-{uuid.uuid4().hex[:6]}")
        for n in range(MEMBERS)
    ]
    members = []

    def least_connected():
        """nginx's least_conn: the server with the fewest members on it first."""
        load = {port: sum(1 for member in members if member.port == port) for port in topology.ports}
        return sorted(topology.ports, key=load.get)

    members += [
        PageClient(f"m{n}", least_connected, sessions[n], room, random.Random(rng.random())) for n in range(MEMBERS)
    ]
    tasks = [asyncio.create_task(member.run()) for member in members]
    deadline = time.monotonic() + 20
    while not all(member.joined_once for member in members):
        if time.monotonic() > deadline:
            raise RuntimeError("not every member could join the room")
        await asyncio.sleep(0.05)
    for member in members:
        member.posting = True
    await asyncio.sleep(CALM_SECONDS)
    faults = []
    faults.append(("calm", time.time(), time.time(), ""))
    order = rng.sample(FAULTS, len(FAULTS))
    for fault in order:
        started = time.time()
        detail = await fault(topology, members, rng)
        if fault is order[-1]:
            for member in members:
                member.posting = False  # what is pending is still sent again until acknowledged
        faults.append((fault.__name__, started, time.time(), detail))
        say(f"{fault.__name__} ({detail}) took {time.time() - started:.1f} s")
        if fault is not order[-1]:
            await asyncio.sleep(CALM_SECONDS)
    faults.append(("end", time.time(), time.time(), ""))
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        acked = {mid for member in members for mid, _ in member.acked.values()}
        if all(member.pending is None for member in members) and all(
            member.connected and acked <= set(member.applied) for member in members
        ):
            break
        await asyncio.sleep(0.2)
    for member in members:
        member.running = False
        member.abort()
    await asyncio.gather(*tasks, return_exceptions=True)
    return members, faults


def check(topology, members, faults, room):
    problems = []
    with psycopg.connect(topology.database_url) as db:
        rows = db.execute(
            "SELECT m.id, m.client_id FROM realtime_message m JOIN realtime_room r ON r.id = m.room_id "
            "WHERE r.name = %s",
            (room,),
        ).fetchall()
        offsets = [
            row[0]
            for row in db.execute(
                'SELECT c."offset" FROM realtime_change c JOIN realtime_room r ON r.id = c.room_id '
                'WHERE r.name = %s ORDER BY c."offset"',
                (room,),
            )
        ]
    by_client_id = {}
    for message_id, client_id in rows:
        by_client_id.setdefault(client_id, []).append(message_id)
    acked = {client_id: entry for member in members for client_id, entry in member.acked.items()}
    failed = set().union(*(member.failed for member in members))
    for client_id, (message_id, _) in acked.items():
        if by_client_id.get(client_id) != [message_id]:
            problems.append(f"acked {client_id} (#{message_id}) stored as {by_client_id.get(client_id)}")
    problems += [f"{client_id} reported failed but stored" for client_id in failed if client_id in by_client_id]
    if offsets != list(range(1, len(offsets) + 1)):
        problems.append(f"the room's offsets have holes or repeats ({len(offsets)} changes)")
    acked_ids = {message_id for message_id, _ in acked.values()}
    missed = duplicates = out_of_order = 0
    for member in members:
        seen = member.applied
        duplicates += len(seen) - len(set(seen))
        out_of_order += sum(1 for a, b in zip(seen, seen[1:], strict=False) if b <= a)
        missed += len(acked_ids - set(seen))
    if missed or duplicates or out_of_order:
        problems.append(f"members' views: {missed} missed, {duplicates} twice, {out_of_order} out of order")
    # Every acknowledged post must be seen by every member RECOVERY_LIMIT s
    # after the later of its ack and the end of the last fault that began
    # before the member saw it (a post acked just before a server is stopped
    # reaches that server's members when it runs again: the stop's to answer
    # for). The worst lateness is put down to that fault ("calm": none).
    injected = [(started, ended, name) for name, started, ended, _ in faults if name not in ("calm", "end")]
    recoveries = dict.fromkeys(["calm"] + [name for _, _, name in injected], 0.0)
    for member in members:
        for message_id, at in acked.values():
            seen = member.first_seen.get(message_id)
            if seen is None:
                continue  # missed: counted above
            since, cause = at, "calm"
            for started, ended, name in injected:
                if started <= seen and ended > since:
                    since, cause = ended, name
            recoveries[cause] = max(recoveries[cause], seen - since)
    for cause, late in recoveries.items():
        if late > RECOVERY_LIMIT:
            problems.append(f"after {cause}, a member saw a post {late:.1f} s after the fault ended or it was acked")
    for index, server in enumerate(topology.servers):
        if server.process.poll() is not None:
            problems.append(f"server {index} died (exit {server.process.returncode})")
    log_lines = {}
    for index in (0, 1):
        text = topology.log_text(index)
        counts = {key: text.count(phrase) for key, phrase in LOG_PHRASES.items()}
        log_lines[index] = counts
        for key, limit in LOG_LIMITS.items():
            if counts[key] > limit:
                problems.append(f"server {index} logged {counts[key]} x {LOG_PHRASES[key]!r} (at most {limit})")
    return problems, {
        "acked": len(acked),
        "stored": len(rows),
        "failed": len(failed),
        "missed": missed,
        "duplicates": duplicates,
        "out_of_order": out_of_order,
        "recoveries": recoveries,
        "logs": log_lines,
        "errors": sum(member.errors for member in members),
        "reconnects": sum(member.reconnects for member in members),
    }


LOG_PHRASES = {
    "redis_down": "Redis is unavailable",
    "redis_back": "Redis is back",
    "db_down": "the database is unavailable",
    "db_back": "the database is back",
    "layer_lost": "channel layer: group messages may be lost",
    "layer_back": "channel layer answers again",
    "traceback": "Traceback",
    "internal": "error handling a message",
}
# Each outage once each way: Redis goes twice (the kill, the failover), the
# database once; the layer may also be lost to the stop and to the kill of
# the server itself (then its successor says nothing).
LOG_LIMITS = {
    "redis_down": 2,
    "redis_back": 2,
    "db_down": 1,
    "db_back": 1,
    "layer_lost": 4,
    "layer_back": 4,
    "traceback": 0,
    "internal": 0,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SEED") or 1))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    workdir = tempfile.mkdtemp(prefix="chaos-")
    topology = Topology(workdir, say)
    room = f"chaos-{args.seed}-{uuid.uuid4().hex[:6]}"
    began = time.monotonic()
    try:
        topology.start()
        members, faults = asyncio.run(campaign(topology, rng, room))
        problems, figures = check(topology, members, faults, room)
    finally:
        topology.stop()
    recoveries = " ".join(f"{name}={seconds:.1f}s" for name, seconds in figures["recoveries"].items())
    logs = "; ".join(
        f"server {index}: " + " ".join(f"{key}={count}" for key, count in counts.items() if count)
        for index, counts in figures["logs"].items()
    )
    print(
        f"chaos seed={args.seed}: {figures['acked']} posts acked, {figures['stored']} stored, "
        f"{figures['failed']} failed, {figures['missed']} missed, {figures['duplicates']} twice, "
        f"{figures['out_of_order']} out of order; recovery after {recoveries}; "
        f"{figures['errors']} error frames, {figures['reconnects']} reconnects; logs: {logs}; "
        f"{time.monotonic() - began:.0f} s; {'FAILED' if problems else 'passed'}"
    )
    for problem in problems:
        print(f"  - {problem}")
    if problems:
        print(f"  (server logs kept in {workdir})")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
