"""bench.sockets, the Unix-socket against loopback-TCP comparison `make bench` prints: it
reaches both servers over the transport each row names (it checks every connection: a Redis
client's local address is a path, a Postgres backend has no server address) and reads the
saving off the medians."""

from __future__ import annotations

from bench.sockets import measure, report


async def test_both_transports_are_measured_on_the_real_servers(pg_url: str,
                                                                redis_url: str) -> None:
    # pg_url and redis_url: the servers answer (or the test fails under MFA_TEST_STRICT=1).
    medians = await measure(rounds=2, sets=320)
    assert list(medians) == ["loopback TCP", "Unix socket"]
    for client, redis, postgres in medians.values():
        assert client > 0 and redis >= 0 and postgres >= 0  # the client's side always shows
    lines = report(medians)
    tcp, uds = (sum(v) for v in medians.values())
    assert lines[-1] == f"  the sockets save {tcp - uds:.3f} ms ({100 * (tcp - uds) / tcp:.0f} %)"


def test_the_report_reads_the_saving_off_the_medians() -> None:
    lines = report({"loopback TCP": (0.5, 0.1, 0.2), "Unix socket": (0.4, 0.05, 0.15)})
    assert "total 0.800" in lines[1] and "total 0.600" in lines[2]
    assert lines[3] == "  the sockets save 0.200 ms (25 %)"

