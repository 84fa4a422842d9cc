"""Django's Redis cache with one ``redis.Redis`` client per connection pool, reused.

Django's ``RedisCacheClient`` builds a new ``redis.Redis`` for every cache call; with
redis-py 8 that means filling a ~170-entry response-callback table each time, which the
rate-limit throttles (two reads and two writes per API request) paid on every request.
A ``redis.Redis`` over a connection pool is thread-safe, so one per pool is enough.
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class ReusedClientRedisCache(RedisCache):
    """``django.core.cache.backends.redis.RedisCache``, reusing its clients."""

    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient  # RedisCache sets it per instance
