"""permessage-deflate parameters: what each costs in idle memory per socket
and what it saves on the project's messages. Two parts, one result file
(bench/results/compression.json):

- ratios (`--part ratios`, no server): payload bytes on the wire / JSON bytes
  of what the server sends, for every parameter set below, compressed by the
  server's own code: Chrome's offer goes through realtime/server/compression.py
  (split_extensions, choose_agreement with the set's DeflatePolicy) and the
  messages through a RealtimePerMessageDeflate made from that agreement, as
  the server makes it for a socket, including its "under min_bytes goes out
  uncompressed" rule. One compressor per message kind, fed the kind's
  messages in order, as one socket's would be. The messages are the
  project's, built by its own encoders and seeded (`--seed`): mouse events
  (MouseConsumer's reply to a random walk), time ticks (ticker.make_tick
  rendered by TimeConsumer), chat broadcasts (chat store.wire +
  stream.change_frame, encoded as ChatConsumer.hub_message does) and the
  500-byte JSON message bench.idle_memory echoes.
- memory (`--part memory`): for the sets in `--memory-sets`, a fresh
  `python -m realtime.server` (project defaults, the set's REALTIME_DEFLATE_*
  settings) pinned to CPU 0; --sockets connections (the load client pinned to
  CPU 1) offer Chrome's `permessage-deflate; client_max_window_bits`, each
  echoes that 500-byte message (compressed when negotiated) and idles; RSS
  growth per socket in KiB, measured exactly as bench.idle_memory's
  "ours+browser" row (its `measure` and client, reused). The "plain" set is
  the same client against the server with REALTIME_PERMESSAGE_DEFLATE=0: the
  offer is declined and the message goes plain.

The "default" set is the project's default, read from config/settings.py
(REALTIME_DEFLATE_* in this process's environment are ignored, so it is
always the shipped default). Every other set is expressed through the same
settings, so each memory row is a server configuration an operator can run.

    .venv/bin/python -m bench.compression [--part ratios|memory|all] [--sockets 1500]
        [--memory-sets plain,takeover-15-8,...|all] [--seed 1]
"""

import os
import random
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from autobahn.websocket.protocol import WebSocketProtocol

from bench import idle_sockets
from bench.common import load_average, machine_state, raise_open_file_limit, write_result
from bench.peers.registry import ours_with
from bench.runner import argument_parser, names_from, result_head, run
from realtime.server.compression import DeflatePolicy, RealtimePerMessageDeflate, choose_agreement, split_extensions

BROWSER_OFFER = idle_sockets.BROWSER_OFFER
MESSAGE_KINDS = ("mouse", "tick", "chat", "echo500")
DEFAULT_MEMORY_SETS = "plain,takeover-15-8,takeover-12-5,nct-15-8,server-takeover-10-2,default"
DEFLATE_SETTINGS = (
    "REALTIME_PERMESSAGE_DEFLATE",
    "REALTIME_DEFLATE_SERVER_NO_CONTEXT_TAKEOVER",
    "REALTIME_DEFLATE_CLIENT_NO_CONTEXT_TAKEOVER",
    "REALTIME_DEFLATE_SERVER_WINDOW_BITS",
    "REALTIME_DEFLATE_CLIENT_WINDOW_BITS",
    "REALTIME_DEFLATE_MEM_LEVEL",
    "REALTIME_DEFLATE_MIN_BYTES",
)


@dataclass(frozen=True)
class ParameterSet:
    key: str
    label: str
    policy: DeflatePolicy | None  # None: compression off

    def settings(self):
        """The server's environment for this set (config/settings.py)."""
        policy = self.policy
        if policy is None:
            return {"REALTIME_PERMESSAGE_DEFLATE": "0"}
        flag = {True: "1", False: "0"}
        return {
            "REALTIME_PERMESSAGE_DEFLATE": "1",
            "REALTIME_DEFLATE_SERVER_NO_CONTEXT_TAKEOVER": flag[policy.server_no_context_takeover],
            "REALTIME_DEFLATE_CLIENT_NO_CONTEXT_TAKEOVER": flag[policy.client_no_context_takeover],
            "REALTIME_DEFLATE_SERVER_WINDOW_BITS": str(policy.server_window_bits),
            "REALTIME_DEFLATE_CLIENT_WINDOW_BITS": str(policy.client_window_bits),
            "REALTIME_DEFLATE_MEM_LEVEL": str(policy.mem_level),
            "REALTIME_DEFLATE_MIN_BYTES": str(policy.min_bytes),
        }


def policy(takeover_server, takeover_client, server_bits, mem_level, client_bits=None, min_bytes=0):
    return DeflatePolicy(
        server_no_context_takeover=not takeover_server,
        client_no_context_takeover=not takeover_client,
        server_window_bits=server_bits,
        client_window_bits=client_bits or server_bits,
        mem_level=mem_level,
        min_bytes=min_bytes,
    )


def parameter_sets(default):
    """Every set, in table order; `default` is the project's DeflatePolicy."""
    sets = [
        ParameterSet("plain", "no compression (REALTIME_PERMESSAGE_DEFLATE=0)", None),
        ParameterSet(
            "takeover-15-8", "takeover both, 15/8 (autobahn's defaults, the old behaviour)", policy(True, True, 15, 8)
        ),
        ParameterSet(
            "takeover-12-5", "takeover both, 12/5; client 12 (websockets' defaults)", policy(True, True, 12, 5)
        ),
        ParameterSet("takeover-10-2", "takeover both, 10/2; client 10", policy(True, True, 10, 2)),
        ParameterSet("takeover-9-1", "takeover both, 9/1; client 9", policy(True, True, 9, 1)),
        ParameterSet("client-nct-15-8", "client no takeover only, 15/8", policy(True, False, 15, 8)),
        ParameterSet(
            "server-takeover-10-2", "server takeover 10/2 only; client no takeover", policy(True, False, 10, 2)
        ),
        ParameterSet("server-takeover-9-1", "server takeover 9/1 only; client no takeover", policy(True, False, 9, 1)),
        ParameterSet(
            "server-nct-15-8", "server no takeover only, 15/8; client takeover 15", policy(False, True, 15, 8)
        ),
        ParameterSet(
            "server-nct-15-8-client-10",
            "server no takeover only, 15/8; client takeover 10",
            policy(False, True, 15, 8, client_bits=10),
        ),
        ParameterSet("nct-15-8", "no takeover both, 15/8", policy(False, False, 15, 8)),
        ParameterSet("nct-12-5", "no takeover both, 12/5; client 12", policy(False, False, 12, 5)),
        ParameterSet("nct-10-4", "no takeover both, 10/4; client 10", policy(False, False, 10, 4)),
        ParameterSet(
            "nct-15-8-min64",
            "no takeover both, 15/8; under 64 B uncompressed",
            policy(False, False, 15, 8, min_bytes=64),
        ),
        ParameterSet(
            "nct-15-8-min128",
            "no takeover both, 15/8; under 128 B uncompressed",
            policy(False, False, 15, 8, min_bytes=128),
        ),
    ]
    sets.append(ParameterSet("default", f"project default ({describe(default)})", default))
    return {item.key: item for item in sets}


def describe(deflate):
    takeover = {
        (True, True): "no takeover both",
        (False, False): "takeover both",
        (True, False): "server no takeover only",
        (False, True): "client no takeover only",
    }[(deflate.server_no_context_takeover, deflate.client_no_context_takeover)]
    text = f"{takeover}, {deflate.server_window_bits}/{deflate.mem_level}; client {deflate.client_window_bits}"
    return text + (f"; under {deflate.min_bytes} B uncompressed" if deflate.min_bytes else "")


def project_default():
    """The project's DeflatePolicy from config/settings.py, with the
    DEFLATE_SETTINGS of this environment removed first (returned, to be
    recorded), so that "default" is what ships."""
    ignored = {name: os.environ.pop(name) for name in DEFLATE_SETTINGS if name in os.environ}
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # A throwaway key: settings would otherwise create .secret_key.
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(32))
    import django

    django.setup()
    return DeflatePolicy.from_settings(), ignored


# -- ratios -------------------------------------------------------------------


def server_compressor(deflate):
    """The server's compressor for a socket that sent Chrome's offer, or None
    (offer declined), and the response header."""
    # autobahn's header parser is a plain function on the protocol class (it
    # reads nothing from self); the server calls it on Chrome's header.
    parsed = WebSocketProtocol._parseExtensionsHeader(None, BROWSER_OFFER)
    _, offers = split_extensions(parsed)
    agreement = choose_agreement(offers, deflate)
    if agreement is None:
        return None, None
    compressor = RealtimePerMessageDeflate.create_from_offer_accept(True, agreement)
    compressor.min_bytes = deflate.min_bytes  # as RealtimeWebSocketProtocol.onOpen sets it
    return compressor, agreement.get_extension_string()


def wire_bytes(compressor, payload):
    """Payload bytes on the wire for one message (RealtimeWebSocketProtocol.
    write_frame: plain under min_bytes, else autobahn's sendMessage steps)."""
    if compressor is None or not compressor.worth_compressing(len(payload)):
        return len(payload)
    compressor.start_compress_message()
    data = compressor.compress_message_data(payload)
    data += compressor.end_compress_message()
    return len(data)


def project_messages(seed):
    """{kind: [payload bytes]}: what the server sends for each kind, built by
    the project's own encoders."""
    from django.contrib.auth import get_user_model

    from realtime.chat import store as chat_store
    from realtime.chat.models import Message
    from realtime.chat.stream import change_frame
    from realtime.consumer_kit import codecs
    from realtime.samples.consumers import TimeConsumer
    from realtime.samples.ticker import make_tick
    from realtime.samples.values import MouseEvent

    rng = random.Random(seed)
    x, y, mouse = 400, 300, []
    for _ in range(300):
        x, y = x + rng.randint(-8, 8), y + rng.randint(-8, 8)
        mouse.append(codecs.JSON.marshal(MouseEvent(x=x, y=y))[0])
    start = int(datetime(2026, 12, 1, 14, 51, 7, tzinfo=UTC).timestamp())
    ticks = [
        TimeConsumer.render(make_tick(second, second + rng.uniform(0.0005, 0.02)))
        for second in range(start, start + 120)
    ]
    words = (
        "hello there how are you doing today i think the build is green again let us ship it after lunch ok"
    ).split()
    users = [get_user_model()(username=name) for name in ("alice", "bob", "carol")]
    chat = []
    for index in range(100):
        moment = datetime.fromtimestamp(start + 7 * index + rng.random(), UTC)
        text = " ".join(rng.choice(words) for _ in range(rng.randint(3, 25)))
        message = Message(pk=500 + index, author=rng.choice(users), text=text, created=moment)
        frame = change_frame("message", chat_store.wire(message), 500 + index, "0123456789abcdef")
        frame["at"] = chat_store.iso(moment + timedelta(milliseconds=rng.randint(1, 30)))  # not now(): seeded
        chat.append(codecs.JSON.marshal(frame)[0])
    encoded = {
        kind: [text.encode() for text in texts] for kind, texts in (("mouse", mouse), ("tick", ticks), ("chat", chat))
    }
    encoded["echo500"] = [idle_sockets.MESSAGE]
    return encoded


def ratios(sets, seed):
    messages = project_messages(seed)
    results = {}
    for key, item in sets.items():
        row = {"response_to_chrome": server_compressor(item.policy)[1] if item.policy else None}
        for kind in MESSAGE_KINDS:
            # A fresh socket's compressor for each kind of message.
            compressor = server_compressor(item.policy)[0] if item.policy else None
            raw = sum(len(payload) for payload in messages[kind])
            wire = sum(wire_bytes(compressor, payload) for payload in messages[kind])
            row[kind] = round(wire / raw, 3)
        results[key] = row
    return {
        "messages": {
            kind: {
                "count": len(payloads),
                "bytes_min": min(map(len, payloads)),
                "bytes_max": max(map(len, payloads)),
                "example": payloads[0].decode(),
            }
            for kind, payloads in messages.items()
        },
        "seed": seed,
        "measure": "sum of payload bytes on the wire / sum of JSON bytes, one server compressor per kind "
        "(zlib level 1, sync flush, 4 bytes stripped, as realtime.server.compression), "
        "messages in order",
        "results": results,
    }


def print_ratios(sets, part):
    sizes = ", ".join(f"{kind} {item['bytes_min']}-{item['bytes_max']} B" for kind, item in part["messages"].items())
    print(f"ratios (payload bytes on the wire / JSON bytes; {sizes}):")
    print(f"  {'set':26s} " + " ".join(f"{kind:>7s}" for kind in MESSAGE_KINDS))
    for key, row in part["results"].items():
        print(f"  {key:26s} " + " ".join(f"{row[kind]:7.2f}" for kind in MESSAGE_KINDS) + f"  {sets[key].label}")


# -- memory -------------------------------------------------------------------


async def memory(sets, keys, args):
    results = []
    for key in keys:
        item = sets[key]
        settings = item.settings()
        peer = ours_with(f"deflate-{key}", f"{settings}", browser=True, **settings)
        result = await idle_sockets.measure(peer, args.sockets, args)
        result.update(parameter_set=key, label=item.label, settings=item.settings())
        wanted = 0 if item.policy is None else args.sockets
        warning = "" if result["negotiated_compression"] == wanted else f" WARNING: expected {wanted} negotiated"
        print(
            f"  {key:26s} {result['kib_per_connection']:6.1f} KiB/socket (RSS {result['baseline_rss_mib']} -> "
            f"{result['loaded_rss_mib']} MiB, {result['open_after_settle']} open, "
            f"{result['negotiated_compression']} negotiated {result['accepted_extension']!r}, "
            f"{result['echoed_message_correctly']} echoed){warning}",
            flush=True,
        )
        results.append(result)
    return results


async def main(args):
    default, ignored = project_default()
    sets = parameter_sets(default)
    state = machine_state()
    print(
        f"permessage-deflate parameters ({args.part}); load average {load_average()}; scheduling: {state['scheduling']}"
    )
    if ignored:
        print(f"  ignored from the environment (the default set is the shipped one): {ignored}")
    data = {
        **result_head("compression", args, state),
        "part": args.part,
        "browser_offer": BROWSER_OFFER,
        "ignored_environment": ignored,
        "parameter_sets": {
            key: {"label": item.label, "policy": item.policy and asdict(item.policy), "settings": item.settings()}
            for key, item in sets.items()
        },
        "project_default": "default",
    }
    if args.part in ("ratios", "all"):
        data["ratios"] = ratios(sets, args.seed)
        print_ratios(sets, data["ratios"])
    if args.part in ("memory", "all"):
        state["open_file_limit"] = raise_open_file_limit(args.sockets + 1024)
        print(
            f"memory: {args.sockets} sockets with Chrome's offer, each echoes a {len(idle_sockets.MESSAGE)}-byte "
            f"JSON message on /ws/echo, then idles; server on CPU {args.server_cpus}, client on CPU "
            f"{args.client_cpu}"
        )
        data["memory"] = {
            "parameters": {
                "sockets": args.sockets,
                "settle_seconds": args.settle,
                "server_cpus": args.server_cpus,
                "client_cpu": args.client_cpu,
                "path": "/ws/echo",
                "message_bytes": len(idle_sockets.MESSAGE),
                "measure": "bench.idle_sockets.measure: (median RSS of 3 reads after settle - RSS "
                "before connecting) / sockets",
            },
            "results": await memory(sets, args.memory_sets, args),
        }
    data["load_average_at_end"] = load_average()
    path = write_result(args.output, data)
    print(f"written {os.path.relpath(path)}")


def parse_args(argv=None):
    parser = argument_parser(__doc__, "compression")
    parser.add_argument("--part", choices=("ratios", "memory", "all"), default="all")
    parser.add_argument("--sockets", type=int, default=1500, help="connections per memory row (default %(default)s)")
    known = list(parameter_sets(DeflatePolicy()))  # the keys only; "default" is read from settings later
    parser.add_argument(
        "--memory-sets",
        default=DEFAULT_MEMORY_SETS,
        type=names_from(known, everything="all"),
        help=f"parameter sets measured for memory, or 'all' (default {DEFAULT_MEMORY_SETS})",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the ratio messages (default %(default)s)")
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=200)
    return parser.parse_args(argv)


if __name__ == "__main__":
    run(main, parse_args())
