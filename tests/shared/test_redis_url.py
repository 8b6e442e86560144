"""MFA_REDIS_URL: every form parses to what it says, bad ones are refused by name (never
echoing the password), and the ACL user is what lets a client in."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisClusterException, RedisError

from shared.stores.ephemeral import RedisEphemeral
from shared.stores.redis_client import parse_redis_url
from tests.conftest import scale_redis


def test_the_forms() -> None:
    t = parse_redis_url("redis://127.0.0.1:6380/2")
    assert (t.mode, t.tls, t.nodes, t.db, t.username, t.wait_replicas) == (
        "single", False, (("127.0.0.1", 6380),), 2, None, 0)
    t = parse_redis_url("rediss://mfa:p%40ss@redis.internal/0?ssl_ca_certs=/ca.pem")
    assert (t.tls, t.username, t.password, t.nodes) == (True, "mfa", "p@ss",
                                                        (("redis.internal", 6379),))
    assert t.ssl == {"ssl": True, "ssl_ca_certs": "/ca.pem", "ssl_cert_reqs": "required",
                     "ssl_check_hostname": True}
    t = parse_redis_url("redis+cluster://u:p@a:7001,b:7002,[::1]:7003")
    assert (t.mode, t.nodes) == ("cluster", (("a", 7001), ("b", 7002), ("::1", 7003)))
    t = parse_redis_url("rediss+sentinel://u:p@s1,s2:5000/mymaster/3?sentinel_password=x")
    assert (t.mode, t.tls, t.service, t.db, t.nodes, t.sentinel_password, t.wait_replicas) == (
        "sentinel", True, "mymaster", 3, (("s1", 26379), ("s2", 5000)), "x", 1)
    assert parse_redis_url("redis+sentinel://s/m?wait=0&wait_timeout=5").wait_replicas == 0
    t = parse_redis_url("unix://u:p@/run/redis/redis.sock?db=4")
    assert (t.mode, t.socket_path, t.db, t.username, t.password, t.nodes) == (
        "unix", "/run/redis/redis.sock", 4, "u", "p", ())


@pytest.mark.parametrize(("url", "problem"), [
    ("http://h:1", "scheme"), ("redis://h:1,h:2", "several hosts"),
    ("redis+cluster://h:1/2", "only database 0"), ("redis+sentinel://h:1", "service name"),
    ("redis://h:x", "bad port"), ("redis://h:1/?tls=1", "unknown parameters"),
    ("redis://h:1/?ssl_ca_certs=/a", "rediss"), ("redis+cluster://h:1?wait=1", "Cluster"),
    ("redis://secret@h:1", "user:password@"), ("rediss://h/?ssl_cert_reqs=maybe", "cert_reqs"),
    ("redis+sentinel://h/m?wait=-1", ">= 0"), ("unix://h/r.sock", "absolute path"),
    ("unix://", "absolute path"), ("unix:///r.sock?ssl_ca_certs=/a", "rediss"),
    ("redis://h/?db=1", "unix:// only"), ("unix:///r.sock?db=x", "integer"),
])
def test_bad_urls_are_refused_by_name(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match="MFA_REDIS_URL") as e:
        parse_redis_url(url)
    assert problem in str(e.value) and "secret" not in str(e.value)


@pytest.mark.parametrize("cut", ["/", "#", "?"])
def test_a_password_that_cuts_the_url_is_never_quoted(cut: str) -> None:
    """The review's L1: an unencoded /, # or ? moves part of the password into the host, path
    or query; the error names the problem, not what it found there."""
    with pytest.raises(ValueError, match="percent-encode") as e:
        parse_redis_url(f"redis://mfa:S3cr{cut}etPW@redis.internal:6379/0")
    assert "S3cr" not in str(e.value) and "etPW" not in str(e.value), str(e.value)


def test_describe_leaves_the_password_out() -> None:
    t = parse_redis_url("rediss+sentinel://mfa:hunter2@s1:1,s2:2/m/0?sentinel_password=pw2")
    assert t.describe() == "rediss+sentinel://s1:1,s2:2/m/0"
    assert "hunter2" not in repr(t) and "pw2" not in repr(t)
    assert parse_redis_url("unix://mfa:hunter2@/r.sock?db=2").describe() == "unix:///r.sock?db=2"


async def test_the_unix_socket_form_reaches_the_server_over_its_socket(
        redis_unix_url: str) -> None:
    # The server listens on no TCP port (redis_unix_url), so any answer came over the socket.
    path = parse_redis_url(redis_unix_url).socket_path
    store = RedisEphemeral(redis_unix_url.replace("db=0", "db=3"), prefix="t:")
    direct = aioredis.Redis(unix_socket_path=path, db=3)
    try:
        await store.put("k", {"v": 1}, ttl=60)
        assert await store.take("k") == {"v": 1} and await store.take("k") is None
        await store.put("k2", {"v": 2}, ttl=60)
        assert await direct.exists("t:k2") == 1  # database 3, as the URL said
    finally:
        await direct.delete("t:k2")
        await store.close()
        await direct.aclose()


@pytest.mark.parametrize("form", ["cluster", "sentinel_tls", "single_tls"])
async def test_the_acl_user_is_required(scale_urls: dict[str, str], form: str) -> None:
    url = scale_redis(scale_urls, form)
    wrong = url.replace(url.split("://", 1)[1].split("@", 1)[0], "mfa:wrong-password")
    store = RedisEphemeral(wrong)
    try:
        with pytest.raises((RedisError, RedisClusterException), match="invalid username-password"):
            await store.ping()
    finally:
        await store.close()
