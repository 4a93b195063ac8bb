"""The project's own Redis connections (the tick lease, tracing snapshots, the
health check), for every topology the channel layer supports:

- one Redis: REDIS_URL;
- shards: REDIS_SHARDS (the channel layer spreads groups and channels over
  them); our own keys live on REDIS_URL if set, else on the first shard,
  except the tick lease, which may live on any of them (`lease_clients`);
- Sentinel: REDIS_SENTINELS + REDIS_SENTINEL_MASTER. The client asks the
  sentinels for the current master on every new connection, so after a
  failover the next command (redis-py reconnects after the error the old
  master's death causes) goes to the new master, without a restart.

The channel layer itself is configured in config/settings.py
(CHANNEL_LAYERS); this module is for the few direct Redis clients.
"""

from django.conf import settings


def configured():
    """Is any Redis configured (else: in-memory layer, one process)?"""
    return bool(settings.REDIS_URL or settings.REDIS_SHARDS or settings.REDIS_SENTINELS)


def sentinel_addresses():
    """REDIS_SENTINELS as [(host, port), ...]."""
    addresses = []
    for entry in settings.REDIS_SENTINELS:
        host, _, port = entry.rpartition(":")
        addresses.append((host or "127.0.0.1", int(port)))
    return addresses


def client(use_asyncio=False, **options):
    """A redis-py client (redis.asyncio's with `use_asyncio`) of the Redis that
    holds our own keys. `options` are connection options (timeouts)."""
    if use_asyncio:
        import redis.asyncio as redis
        from redis.asyncio.sentinel import Sentinel
    else:
        import redis
        from redis.sentinel import Sentinel

    if settings.REDIS_SENTINELS:
        sentinel = Sentinel(
            sentinel_addresses(),
            # The sentinels themselves answer fast or not at all.
            sentinel_kwargs={
                "socket_timeout": options.get("socket_timeout", 1.0),
                "socket_connect_timeout": options.get("socket_connect_timeout", 1.0),
            },
        )
        return sentinel.master_for(
            settings.REDIS_SENTINEL_MASTER, redis_class=redis.Redis, db=settings.REDIS_SENTINEL_DB, **options
        )
    url = settings.REDIS_URL or settings.REDIS_SHARDS[0]
    return redis.Redis.from_url(url, **options)


def lease_clients(**options):
    """redis.asyncio clients of every Redis that may hold the tick lease, in
    one order that every process computes alike: REDIS_URL, then each shard
    (or the sentinels' master alone: Sentinel fails over by itself). Each
    client tries once: the lease moves on to the next Redis rather than
    wait for a dead one."""
    import redis.asyncio as redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    options = {"retry": Retry(NoBackoff(), 0), **options}
    if settings.REDIS_SENTINELS:
        return [client(use_asyncio=True, **options)]
    urls = []
    for url in [settings.REDIS_URL, *settings.REDIS_SHARDS]:
        if url and url not in urls:
            urls.append(url)
    return [redis.Redis.from_url(url, **options) for url in urls]
