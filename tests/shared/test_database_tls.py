"""A Postgres on another machine only over verified TLS (the review's L10): asyncpg's default
encrypts without checking the server and falls back to plain text."""

from __future__ import annotations

import pytest

from shared.stores.database import connect

REMOTE = "postgresql://mfa:s3cretpw@db.example:5432/mfa"


@pytest.mark.parametrize("url", [REMOTE, REMOTE + "?sslmode=require",
                                 REMOTE + "?sslmode=prefer",
                                 "postgresql://mfa:s3cretpw@127.0.0.1,db.example:5432/mfa"])
async def test_a_remote_dsn_without_verified_tls_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="sslmode=verify-full") as e:
        await connect(url)
    assert "s3cretpw" not in str(e.value) and "db.example" not in str(e.value)


@pytest.mark.parametrize("url", [REMOTE + "?sslmode=verify-full", REMOTE + "?sslmode=verify-ca",
                                 "postgresql://mfa@127.0.0.1:1/mfa", "postgresql://mfa@[::1]:1/x",
                                 "postgresql://mfa@localhost:1/mfa",
                                 "postgresql://mfa@%2Ftmp%2Fnowhere/mfa"])
async def test_local_or_verified_dsns_are_accepted(url: str) -> None:
    db = await connect(url)  # the pool connects lazily: nothing is reached here
    await db.close()


async def test_the_deployment_may_accept_unverified_tls_explicitly() -> None:
    db = await connect(REMOTE, allow_unverified=True)
    await db.close()
