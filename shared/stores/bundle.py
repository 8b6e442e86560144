"""Everything a service talks to, built once per process (or once for all, embedded)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.clock import Clock
from shared.crypto import CodeHasher, FieldCipher, b64d
from shared.events.audit import AuditLog
from shared.events.outbox import Outbox
from shared.mfa.challenges import ChallengeStore
from shared.mfa.config_store import ConfigRepository
from shared.mfa.devices import DeviceRepository
from shared.mfa.lockout import Lockout
from shared.mfa.policies import PolicyRepository
from shared.mfa.ratelimit import SendLimiter
from shared.mfa.recovery import RecoveryCodes, RecoverySets
from shared.mfa.remember import RememberedDevices
from shared.mfa.sessions import MfaSessionStore
from shared.mfa.tokens import BearerVerifier, TokenIssuer
from shared.mfa.users import UserRecords
from shared.settings import Settings
from shared.stores.database import Database, SqliteDatabase, connect
from shared.stores.ephemeral import Ephemeral, MemoryEphemeral, RedisEphemeral
from shared.stores.migrate import migrate


@dataclass
class Stores:
    """The stores and keyed helpers; handlers and factor cores take what they need from it."""

    settings: Settings
    clock: Clock
    eph: Ephemeral
    db: Database
    hasher: CodeHasher
    cipher: FieldCipher
    tokens: TokenIssuer
    bearer: BearerVerifier
    devices: DeviceRepository
    sessions: MfaSessionStore
    challenges: ChallengeStore
    recovery: RecoveryCodes
    recovery_sets: RecoverySets
    remembered: RememberedDevices
    policies: PolicyRepository
    audit: AuditLog
    lockout: Lockout
    limiter: SendLimiter
    users: UserRecords
    outbox: Outbox
    configs: ConfigRepository

    async def ping(self) -> None:
        """Raise when Redis or the database does not answer (readiness)."""
        await self.eph.ping()
        await self.db.ping()

    async def close(self) -> None:
        """Close connections."""
        await self.eph.close()
        await self.db.close()


def build_stores(settings: Settings, clock: Clock, eph: Ephemeral, db: Database) -> Stores:
    """Wire the repositories over an ephemeral store and a database."""
    if not (settings.hmac_key and settings.encryption_keys and settings.jwt_private_key):
        raise ValueError("MFA_HMAC_KEY, MFA_ENCRYPTION_KEYS and MFA_JWT_PRIVATE_KEY are required")
    hasher = CodeHasher(b64d(settings.hmac_key))
    tokens = TokenIssuer(settings.jwt_private_key, settings.jwt_key_id, clock,
                         issuer=settings.jwt_issuer, ttl=settings.access_token_ttl,
                         audience=settings.jwt_audience,
                         extra_jwks=settings.jwt_extra_public_keys)
    cipher = FieldCipher.from_setting(settings.encryption_keys)
    audit = AuditLog(db, clock, trusted=settings.trusted_proxies, address=settings.audit_address)
    configs = ConfigRepository(db, clock)
    return Stores(
        settings=settings, clock=clock, eph=eph, db=db, hasher=hasher,
        cipher=cipher, tokens=tokens,
        bearer=BearerVerifier(tokens, host_jwks=settings.host_jwks,
                              host_issuer=settings.host_jwt_issuer,
                              host_audience=settings.host_jwt_audience),
        devices=DeviceRepository(db, settings.device_caps),
        sessions=MfaSessionStore(eph, clock, hasher, cipher, ttl=settings.mfa_token_ttl),
        challenges=ChallengeStore(eph, hasher, clock),
        recovery=RecoveryCodes(db, hasher, clock),
        recovery_sets=RecoverySets(db, hasher, clock),
        remembered=RememberedDevices(db, clock, audit),
        policies=PolicyRepository(db, settings, clock),
        audit=audit,
        lockout=Lockout(eph, settings, hasher, configs),
        limiter=SendLimiter(eph),
        users=UserRecords(db, clock),
        outbox=Outbox(db, clock),
        configs=configs,
    )


async def open_stores(settings: Settings, clock: Clock) -> Stores:
    """Production path: Redis and Postgres from MFA_REDIS_URL and MFA_DATABASE_URL."""
    if not settings.redis_url or not settings.database_url:
        raise ValueError("MFA_REDIS_URL and MFA_DATABASE_URL are required in split mode")
    settings.validate_split()
    db = await connect(settings.database_url,
                       statement_cache_size=settings.database_statement_cache,
                       allow_unverified=settings.database_allow_unverified_tls)
    eph = RedisEphemeral(settings.redis_url, prefix=settings.redis_prefix)
    return build_stores(settings, clock, eph, db)


async def open_embedded_stores(settings: Settings, clock: Clock) -> Stores:
    """Embedded path: process memory and a SQLite file (or the database URL if given)."""
    url = settings.database_url or f"sqlite:///{settings.var_dir}/mfa.sqlite3"
    db = await connect(url, allow_unverified=settings.database_allow_unverified_tls)
    eph: Ephemeral = (RedisEphemeral(settings.redis_url, prefix=settings.redis_prefix)
                      if settings.redis_url else MemoryEphemeral(clock))
    if isinstance(db, SqliteDatabase):
        await migrate(db, "up")
    return build_stores(settings, clock, eph, db)
