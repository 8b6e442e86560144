"""Importing existing enrollments, so that moved users log in without enrolling again: TOTP
seeds (with their algorithm, digits and period; or an otpauth:// URI), HOTP hardware tokens
(seed, digits, counter), phone numbers, and WebAuthn credentials (public key, sign count,
transports). No HTTP here.

Idempotent: a device's id is derived from (tenant, user, kind, what identifies it: a keyed
digest of the seed, the number, the credential id), and an insert of an existing one changes
nothing, so running the same import twice adds nothing the second time. Every error names its
record and stops only that record (`import_lines`: per line)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from marshmallow import ValidationError, validate
from webauthn.helpers import base64url_to_bytes, decode_credential_public_key

from shared.events.audit import AuditEvent
from shared.http.errors import BadRequest, Conflict, MfaError, NotFound
from shared.mfa import hotp
from shared.mfa.devices import Device, TooManyDevices, device_aad
from shared.mfa.phones import Phone, parse_phone  # the one place numbers are parsed
from shared.mfa.registry import FORCED_IMPORT, HOTP, SMS, TOTP, WEBAUTHN
from shared.mfa.resets import clear
from shared.stores.bundle import Stores

ALGORITHMS = ("SHA1", "SHA256", "SHA512")
DIGITS = (6, 8)
PERIODS = (30, 60)
_NS = uuid.UUID("6f1c2b8e-8e55-4f7a-9a52-3c1f4f0e2d11")  # this service's import namespace
_MAX = 20  # devices of one kind per imported user


class InvalidRecord(ValueError):
    """A record that cannot be imported; the message says which field and why."""


class AlreadyEnrolled(InvalidRecord):
    """The user has MFA factors the record does not hold: an import would add a way in
    beside the user's own without them doing anything, so only with `force`."""

    def __init__(self) -> None:
        super().__init__("userId: this user has MFA already; an import adds factors to an "
                         "enrolled user only with \"force\": true (the user is then told, "
                         "as after an enrollment)")


class OverCap(InvalidRecord):
    """The record would take the user over a kind's per-user cap (nothing is written)."""

    def __init__(self, kind: str, cap: int) -> None:
        super().__init__(f"{kind}: at most {cap} per user (MFA_MAX_{kind.upper()}_PER_USER)")


@dataclass(frozen=True)
class TotpSeed:
    """An authenticator app's seed as the old system kept it."""

    secret: str
    algorithm: str = "SHA1"
    digits: int = 6
    period: int = 30
    name: str = ""


@dataclass(frozen=True)
class WebAuthnCredential:
    """A registered WebAuthn credential: id, COSE public key, counter, transports."""

    credential_id: str
    public_key: bytes
    alg: int
    sign_count: int = 0
    transports: tuple[str, ...] = ()
    device_type: str = "CrossPlatform"
    name: str = ""


@dataclass(frozen=True)
class ImportRecord:
    """One user's enrollments to import."""

    tenant_id: str
    user_id: str
    email: str = ""
    totp: tuple[TotpSeed, ...] = ()
    phones: tuple[str, ...] = ()
    webauthn: tuple[WebAuthnCredential, ...] = ()
    hotp: tuple[hotp.Token, ...] = ()
    force: bool = False  # add to a user who already has MFA (as an enrollment would)


@dataclass
class Imported:
    """What an import did for one user: devices added, and already there."""

    tenant_id: str
    user_id: str
    added: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)

    @property
    def enrolled(self) -> bool:
        """The user has an imported factor now."""
        return bool(self.added or self.existing)


def _str(obj: dict[str, Any], key: str, *, required: bool = False, limit: int = 200) -> str:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise InvalidRecord(f"{key}: required")
        return ""
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        raise InvalidRecord(f"{key}: a string of at most {limit} characters")
    return value


def _seed_secret(value: str, where: str) -> str:
    secret = value.replace(" ", "").replace("-", "").upper().rstrip("=")
    try:
        raw = base64.b32decode(secret + "=" * (-len(secret) % 8))
    except (binascii.Error, ValueError):
        raise InvalidRecord(f"{where}: not base32") from None
    if len(raw) < 10:
        raise InvalidRecord(f"{where}: a seed of at least 80 bits is needed")
    return secret


def _seed(obj: dict[str, Any], where: str) -> TotpSeed:
    if not isinstance(obj, dict):
        raise InvalidRecord(f"{where}: an object")
    if obj.get("otpauth"):
        return parse_otpauth(_str(obj, "otpauth", limit=2048), where)
    algorithm = str(obj.get("algorithm") or "SHA1").upper()
    digits, period = obj.get("digits", 6), obj.get("period", 30)
    if algorithm not in ALGORITHMS:
        raise InvalidRecord(f"{where}.algorithm: one of {', '.join(ALGORITHMS)}")
    if digits not in DIGITS or isinstance(digits, bool):
        raise InvalidRecord(f"{where}.digits: 6 or 8")
    if period not in PERIODS or isinstance(period, bool):
        raise InvalidRecord(f"{where}.period: 30 or 60")
    return TotpSeed(_seed_secret(_str(obj, "secret", required=True, limit=256), where),
                    algorithm, int(digits), int(period), _str(obj, "name", limit=64))


def _token(obj: dict[str, Any], where: str) -> hotp.Token:
    if not isinstance(obj, dict):
        raise InvalidRecord(f"{where}: an object")
    digits, counter = obj.get("digits", 6), obj.get("counter", 0)
    if digits not in hotp.DIGITS or isinstance(digits, bool):
        raise InvalidRecord(f"{where}.digits: 6 or 8")
    if not isinstance(counter, int) or isinstance(counter, bool) or \
            not 0 <= counter <= hotp.MAX_COUNTER:
        raise InvalidRecord(f"{where}.counter: the next code's counter, 0 to 2^53")
    return hotp.Token(_seed_secret(_str(obj, "secret", required=True, limit=256), where),
                      int(digits), counter, _str(obj, "name", limit=64))


def parse_otpauth(uri: str, where: str = "otpauth") -> TotpSeed:
    """An otpauth://totp/ URI (Key URI Format) as a seed; its label becomes the name."""
    parts = urlsplit(uri)
    if parts.scheme != "otpauth" or parts.netloc != "totp":
        raise InvalidRecord(f"{where}: an otpauth://totp/ URI")
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    label = unquote(parts.path.lstrip("/"))[:64]
    return _seed({"secret": q.get("secret", ""), "algorithm": q.get("algorithm", "SHA1"),
                  "digits": int(q["digits"]) if q.get("digits", "").isdigit() else 6,
                  "period": int(q["period"]) if q.get("period", "").isdigit() else 30,
                  "name": label}, where)


def _credential(obj: dict[str, Any], where: str) -> WebAuthnCredential:
    if not isinstance(obj, dict):
        raise InvalidRecord(f"{where}: an object")
    cid = _str(obj, "credentialId", required=True, limit=1366)
    try:
        base64url_to_bytes(cid)
        key = base64url_to_bytes(_str(obj, "publicKey", required=True, limit=4096))
        alg = int(decode_credential_public_key(key).alg)
    except InvalidRecord:
        raise
    except Exception:
        raise InvalidRecord(f"{where}: credentialId and publicKey (a COSE key) in base64url") \
            from None
    count = obj.get("signCount", 0)
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count < 2**32:
        raise InvalidRecord(f"{where}.signCount: 0 to 2^32-1")
    transports = obj.get("transports") or []
    if not isinstance(transports, list) or not all(isinstance(t, str) for t in transports):
        raise InvalidRecord(f"{where}.transports: a list of strings")
    kind = obj.get("deviceType") or "CrossPlatform"
    if kind not in ("Platform", "CrossPlatform"):
        raise InvalidRecord(f"{where}.deviceType: Platform or CrossPlatform")
    return WebAuthnCredential(cid.rstrip("="), key, alg, count,
                              tuple(t[:20] for t in transports[:10]), kind,
                              _str(obj, "name", limit=64))


def _list(obj: dict[str, Any], key: str) -> list[Any]:
    value = obj.get(key) or []
    if not isinstance(value, list) or len(value) > _MAX:
        raise InvalidRecord(f"{key}: a list of at most {_MAX}")
    return value


def record_from_json(obj: Any) -> ImportRecord:
    """One native import record: {tenantId, userId, email?, totp: [{secret, algorithm?,
    digits?, period?, name?} | {otpauth}], hotp: [{secret, digits?, counter?, name?}],
    phones: ["+..."], webauthn: [{credentialId, publicKey, signCount?, transports?,
    deviceType?, name?}]}."""
    if not isinstance(obj, dict):
        raise InvalidRecord("a JSON object per line")
    phones = _list(obj, "phones")
    if not all(isinstance(p, str) and len(p) <= 32 for p in phones):
        raise InvalidRecord("phones: strings in E.164 (+ and digits)")
    return ImportRecord(
        tenant_id=_str(obj, "tenantId", required=True), user_id=_str(obj, "userId", required=True),
        email=_email(_str(obj, "email", limit=320), "email"),
        totp=tuple(_seed(s, f"totp[{i}]") for i, s in enumerate(_list(obj, "totp"))),
        hotp=tuple(_token(t, f"hotp[{i}]") for i, t in enumerate(_list(obj, "hotp"))),
        phones=tuple(phones),
        webauthn=tuple(_credential(c, f"webauthn[{i}]")
                       for i, c in enumerate(_list(obj, "webauthn"))),
        force=_force(obj))


def _force(obj: dict[str, Any]) -> bool:
    value = obj.get("force", False)
    if not isinstance(value, bool):
        raise InvalidRecord("force: true or false")
    return value


def _device_id(stores: Stores, rec: ImportRecord, kind: str, key: str) -> str:
    ident = stores.hasher.digest("import", f"{rec.tenant_id}\x00{rec.user_id}\x00{kind}\x00{key}")
    return str(uuid.uuid5(_NS, ident))


def _phone(raw: str, where: str) -> Phone:
    if not raw.startswith("+"):
        raise InvalidRecord(f"{where}: E.164, with + and the country code")
    try:
        return parse_phone(raw)
    except MfaError as e:
        raise InvalidRecord(f"{where}: {e.message}") from None


def _devices(stores: Stores, rec: ImportRecord) -> list[Device]:
    """The record's devices, each sealed to tenant, user and its (derived) id."""
    t, u, now = rec.tenant_id, rec.user_id, stores.clock.time()
    out: list[Device] = []
    for seed in rec.totp:
        did = _device_id(stores, rec, TOTP.name, seed.secret)
        params = {k: v for k, v in (("algorithm", seed.algorithm), ("digits", seed.digits),
                                    ("period", seed.period))
                  if v != TotpSeed.__dataclass_fields__[k].default}
        out.append(Device(id=did, tenant_id=t, user_id=u, kind=TOTP.name, created_at=now,
                          name=seed.name or TOTP.label, data=params,
                          secret=stores.cipher.encrypt(seed.secret.encode(),
                                                       device_aad(t, u, did))))
    for token in rec.hotp:
        out.append(hotp.device(stores, token, tenant_id=t, user_id=u,
                               device_id=_device_id(stores, rec, HOTP.name, token.secret)))
    for i, raw in enumerate(rec.phones):
        phone = _phone(raw, f"phones[{i}]")
        did = _device_id(stores, rec, SMS.name, phone.e164)
        out.append(Device(id=did, tenant_id=t, user_id=u, kind=SMS.name, created_at=now,
                          data={"phoneMasked": phone.masked},
                          secret=stores.cipher.encrypt(phone.e164.encode(),
                                                       device_aad(t, u, did))))
    for c in rec.webauthn:
        did = _device_id(stores, rec, WEBAUTHN.name, c.credential_id)
        names = {"Platform": "Platform authenticator", "CrossPlatform": "Security key"}
        out.append(Device(id=did, tenant_id=t, user_id=u, kind=WEBAUTHN.name, created_at=now,
                          name=c.name or names[c.device_type], lookup=c.credential_id,
                          sign_count=c.sign_count,
                          data={"deviceType": c.device_type, "transports": list(c.transports),
                                "alg": c.alg, "imported": True},
                          secret=stores.cipher.encrypt(c.public_key, device_aad(t, u, did))))
    return out


async def import_record(stores: Stores, rec: ImportRecord, *, actor: str) -> Imported:
    """Store the record's devices that are not there yet, each audited with an outbox event
    (`mfa.factor.imported`), without any secret or number. A user who already has MFA factors
    the record does not hold is refused (AlreadyEnrolled) unless the record says `force`:
    then the import is an enrollment (`mfa.factor.enrolled`, the user's notice, remembered
    browsers forgotten and older bearer tokens retired: registry FORCED_IMPORT). A stored email
    is never replaced. Over a kind's cap: TooManyDevices (nothing of the record is written
    after it). InvalidRecord for a credential another user holds."""
    done = Imported(rec.tenant_id, rec.user_id)
    devices = _devices(stores, rec)  # everything checked before anything is written
    for d in devices:
        if d.kind == WEBAUTHN.name:
            held = await stores.devices.find_by_lookup(WEBAUTHN.name, d.lookup or "")
            if held is not None and (held.tenant_id, held.user_id) != (d.tenant_id, d.user_id):
                raise InvalidRecord("webauthn: this credential is registered to another user")
    enrolled = await stores.devices.list_for_user(rec.tenant_id, rec.user_id)
    ours = {d.id for d in devices}
    others = [d for d in enrolled if d.id not in ours]  # the same import again is not "enrolled"
    if others and not rec.force:
        raise AlreadyEnrolled()
    caps = stores.settings.device_caps
    for kind in {d.kind for d in devices}:  # the whole record, before any of it is written
        after = {d.id for d in [*enrolled, *devices] if d.kind == kind}
        if len(after) > caps.get(kind, len(after)):
            raise OverCap(kind, caps[kind])
    if rec.email:
        await stores.recovery.remember_email_if_unknown(rec.tenant_id, rec.user_id, rec.email)
    action = "enroll" if others else "import"
    for d in devices:
        if await stores.devices.add_if_absent(d):
            done.added.append(d.id)
            await stores.audit.record(tenant_id=d.tenant_id, user_id=d.user_id, factor=d.kind,
                                      action=action, outcome="success", device_id=d.id,
                                      detail={"actor": actor, "imported": True})
        else:
            done.existing.append(d.id)
    if others and done.added:
        await clear(stores, rec.tenant_id, rec.user_id, FORCED_IMPORT,
                    event=AuditEvent(rec.tenant_id, rec.user_id, "all", "forced-import",
                                     "success", detail={"actor": actor,
                                                        "added": len(done.added)}))
    return done


async def import_lines(stores: Stores, lines: Iterable[str], *, actor: str
                       ) -> AsyncIterator[dict[str, Any]]:
    """A JSON-lines import: one result per non-empty line, `{line, ok, ...}`; a bad line is
    reported and the next one imported."""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = record_from_json(json.loads(line))
            done = await import_record(stores, rec, actor=actor)
        except (InvalidRecord, ValueError) as e:
            yield {"line": n, "ok": False, "error": str(e)[:300]}
            continue
        yield {"line": n, "ok": True, "tenantId": done.tenant_id, "userId": done.user_id,
               "added": len(done.added), "existing": len(done.existing)}


def refusal(e: InvalidRecord) -> MfaError:
    """The answer to a record refused on a single-user route: 409 for a user who has MFA
    already (without force) or a record over a cap, else 400 naming the field."""
    if isinstance(e, AlreadyEnrolled):
        return Conflict(str(e), code="ER-MFA-ALREADY-ENROLLED")
    if isinstance(e, OverCap):
        return TooManyDevices(str(e))
    return BadRequest(str(e), code="ER-MFA-VALIDATION")


async def import_user(stores: Stores, tenant_id: str, user_id: str, body: dict[str, Any], *,
                      actor: str) -> dict[str, int]:
    """The admin API's import of one user (the native record, ids from the path)."""
    try:
        done = await import_record(stores, record_from_json(
            {**body, "tenantId": tenant_id, "userId": user_id}), actor=actor)
    except InvalidRecord as e:
        raise refusal(e) from None
    return {"added": len(done.added), "existing": len(done.existing)}


# Frontegg's migration routes (docs/frontegg-contract.md, migration): the MFA fields only.
BULK_MAX = 1000
_STATUS_TTL = 86400


_EMAIL = validate.Email()  # what V1's `email` field (MigrateUser) accepts


def _email(value: str, where: str) -> str:
    """An address as V1 validates it (so no CR/LF reaches a mail header or a token claim)."""
    try:
        return _EMAIL(value).lower() if value else ""
    except ValidationError:
        raise InvalidRecord(f"{where}: not a valid email address") from None


def _frontegg_email(obj: dict[str, Any]) -> str:
    """V1's `email`, or V2's primary one of `emails: [{email, primary, verified}]`."""
    if obj.get("email"):
        return _email(_str(obj, "email", limit=320), "email")
    emails = obj.get("emails") or []
    if isinstance(emails, list):
        primary = [e for e in emails if isinstance(e, dict) and e.get("primary")] or \
            [e for e in emails if isinstance(e, dict)]
        if primary:
            return _email(_str(primary[0], "email", limit=320), "emails[].email")
    return ""


async def _frontegg_record(stores: Stores, obj: Any, scope: str | None) -> ImportRecord:
    """A MigrateUserRequest as a record: `authenticatorAppMfaSecret` (base32) is an
    authenticator app, `phoneNumber` an SMS phone. This service creates no users: the user is
    our `userId` field, else the one user the tenant's session starts named with that email."""
    if not isinstance(obj, dict):
        raise InvalidRecord("a user object")
    tenant = _str(obj, "tenantId", required=True)
    if scope is not None and tenant != scope:
        raise InvalidRecord("tenantId: this vendor token is for another tenant")
    email = _frontegg_email(obj)
    if not email or "@" not in email:
        raise InvalidRecord("email: required")
    user = _str(obj, "userId") or await stores.users.user_by_email(tenant, email)
    if not user:
        raise InvalidRecord("userId: required for a user this service has not seen (it "
                            "creates no users: give your identity provider's user id)")
    secret = _str(obj, "authenticatorAppMfaSecret", limit=256)
    phone = _str(obj, "phoneNumber", limit=32)
    return ImportRecord(tenant, user, email,
                        totp=(TotpSeed(_seed_secret(secret, "authenticatorAppMfaSecret")),)
                        if secret else (),
                        phones=(phone,) if phone else (), force=_force(obj))


def user_dto(rec: ImportRecord, done: Imported) -> dict[str, Any]:
    """Frontegg's UserDto, as far as this service knows the user (the number masked)."""
    out: dict[str, Any] = {"id": rec.user_id, "email": rec.email, "tenantId": rec.tenant_id,
                           "mfaEnrolled": done.enrolled}
    if rec.phones:
        out["phoneNumber"] = _phone(rec.phones[0], "phoneNumber").masked
    return out


async def migrate_user(stores: Stores, obj: dict[str, Any], *, actor: str,
                       scope: str | None) -> dict[str, Any]:
    """POST /resources/migrations/v1/local: one user; its UserDto."""
    try:
        rec = await _frontegg_record(stores, obj, scope)
        done = await import_record(stores, rec, actor=actor)
    except InvalidRecord as e:
        raise refusal(e) from None
    return user_dto(rec, done)


async def migrate_bulk(stores: Stores, users: list[Any], *, actor: str,
                       scope: str | None) -> str:
    """POST .../local/bulk: every user (at most BULK_MAX), each on its own; the migrationId
    whose status says what was migrated and which users failed, and why."""
    if len(users) > BULK_MAX:
        raise BadRequest(f"users: at most {BULK_MAX}", code="ER-MFA-VALIDATION")
    migrated, errors = 0, []
    for i, obj in enumerate(users):
        try:
            await import_record(stores, await _frontegg_record(stores, obj, scope), actor=actor)
            migrated += 1
        except InvalidRecord as e:
            errors.append({"index": i, "error": str(e)[:300]})
    migration_id = str(uuid.uuid4())
    await stores.eph.put(f"migration:{migration_id}",
                         {"scope": scope or "", "state": "completed", "total": len(users),
                          "migrated": migrated, "errors": errors}, _STATUS_TTL)
    return migration_id


async def migration_status(stores: Stores, migration_id: str, *,
                           scope: str | None) -> dict[str, Any]:
    """GET .../local/bulk/status/{migrationId}: 404 for an unknown (or another tenant's) id."""
    rec = await stores.eph.get(f"migration:{migration_id[:100]}")
    if rec is None or (scope is not None and rec.get("scope") != scope):
        raise NotFound("Unknown migration", code="ER-MFA-UNKNOWN-MIGRATION")
    return {"migrationId": migration_id, "state": rec["state"], "total": rec["total"],
            "migrated": rec["migrated"], "errors": rec["errors"]}
