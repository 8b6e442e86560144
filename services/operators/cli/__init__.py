"""`python -m services.operators.cli` (console script `mfa-admin`): the admin operations
from a shell, against the configured database and Redis (MFA_DATABASE_URL, MFA_REDIS_URL and
the keys, as the services have them), for operators without HTTP access.

Subcommands register themselves with `command(...)`; another feature adds its own (e.g. an
import) by defining a function with that decorator in a module listed in PLUGINS."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import importlib
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TextIO

from services.operators import adoption, trail
from services.operators.schemas import Instant
from shared.clock import SystemClock
from shared.events import retention
from shared.http.errors import MfaError
from shared.mfa import hotp, registry
from shared.mfa import resets as factors
from shared.mfa.registry import LOCKOUT_FACTORS
from shared.settings import Settings
from shared.stores.bundle import Stores, open_embedded_stores, open_stores

Run = Callable[[Stores, argparse.Namespace, TextIO], Awaitable[int]]


@dataclass(frozen=True)
class Command:
    """One subcommand: its help, its arguments, and what it runs (exit status)."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Run


COMMANDS: dict[str, Command] = {}
PLUGINS: tuple[str, ...] = ("services.operators.cli.imports",)  # modules that add subcommands


def command(name: str, help: str, arguments: Callable[[argparse.ArgumentParser], None]
            ) -> Callable[[Run], Run]:
    """Register a subcommand."""
    def register(run: Run) -> Run:
        COMMANDS[name] = Command(name, help, arguments, run)
        return run
    return register


def _user(p: argparse.ArgumentParser) -> None:
    p.add_argument("tenant", help="tenant id")
    p.add_argument("user", help="user id")


def _change(p: argparse.ArgumentParser) -> None:
    _user(p)
    p.add_argument("--reason", help="why (kept in the audit row)")


def _actor(args: argparse.Namespace) -> factors.Actor:
    return factors.Actor(args.actor or f"cli:{getpass.getuser()}", args.reason)


def _print(out: TextIO, data: Any) -> int:
    out.write(json.dumps(data, indent=2) + "\n")
    return 0


@command("factors", "list a user's factors and lockouts", _user)
async def _factors(stores: Stores, args: argparse.Namespace, out: TextIO) -> int:
    return _print(out, await factors.list_factors(stores, args.tenant, args.user))


@command("reset", "remove every credential of a user (factors, passkeys, recovery codes, "
         "remembered browsers)", _change)
async def _reset(stores: Stores, args: argparse.Namespace, out: TextIO) -> int:
    removed = await factors.reset(stores, _actor(args), args.tenant, args.user)
    return _print(out, factors.reset_answer(removed))


def _delete_args(p: argparse.ArgumentParser) -> None:
    _change(p)
    p.add_argument("device", help="device id (see `factors`)")


@command("delete", "remove one factor of a user", _delete_args)
async def _delete(stores: Stores, args: argparse.Namespace, out: TextIO) -> int:
    await factors.delete_factor(stores, _actor(args), args.tenant, args.user, args.device)
    return _print(out, {"deleted": args.device})


def _resync_args(p: argparse.ArgumentParser) -> None:
    _delete_args(p)
    p.add_argument("codes", nargs=2, metavar="CODE", help="two consecutive codes of the token")


@command("resync", "move an HOTP token's counter past two consecutive codes", _resync_args)
async def _resync(stores: Stores, args: argparse.Namespace, out: TextIO) -> int:
    counter = await hotp.resync(stores, _actor(args), args.tenant, args.user, args.device,
                                *args.codes)
    return _print(out, {"counter": counter})


def _unlock_args(p: argparse.ArgumentParser) -> None:
    _change(p)
    p.add_argument("--factor", choices=LOCKOUT_FACTORS,
                   help="only this factor (default: all)")


@command("unlock", "lift a user's lockouts", _unlock_args)
async def _unlock(stores: Stores, args: argparse.Namespace, out: TextIO) -> int:
    was = await factors.unlock(stores, _actor(args), args.tenant, args.user, args.factor)
    return _print(out, {"wasLocked": was})


def _time(value: str) -> float:
    try:
        return float(Instant().deserialize(value))
    except Exception:
        raise argparse.ArgumentTypeError("an ISO 8601 time with a zone, or Unix seconds") \
            from None


def _export_args(p: argparse.ArgumentParser) -> None:
    for name in ("tenant", "user", "factor", "action"):
        p.add_argument(f"--{name}")
    p.add_argument("--from", dest="since", type=_time, help="inclusive")
    p.add_argument("--to", dest="until", type=_time, help="exclusive")


@command("export-audit", "the audit trail as JSON lines (filters optional)", _export_args)
async def _export(stores: Stores, args: argparse.Namespace, out: TextIO) -> int:
    f = trail.AuditFilter(tenant_id=args.tenant, user_id=args.user, factor=args.factor,
                          action=args.action, since=args.since, until=args.until)
    async for line in trail.export(stores.db, f):
        out.write(line)
    return 0


def _explain_args(p: argparse.ArgumentParser) -> None:
    _user(p)
    p.add_argument("--factor", choices=LOCKOUT_FACTORS, help="only this factor (default: all)")
    p.add_argument("--from", dest="since", type=_time, help="timeline from (default: 30 days "
                   "ago)")
    p.add_argument("--json", action="store_true", help="the admin API's JSON instead of text")


@command("explain-lockout", "why a user is locked out: each factor's state, threshold and when "
         "it lifts, and the attempts with their addresses and agents", _explain_args)
async def _explain(stores: Stores, args: argparse.Namespace, out: TextIO) -> int:
    x = await trail.explain_lockout(stores, args.tenant, args.user, factor=args.factor,
                                    since=args.since)
    if args.json:
        return _print(out, x)
    out.write(trail.render_explanation(x))
    return 0


def _adoption_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("tenant")
    p.add_argument("--from", dest="since", type=_time, help="default: 30 days ago")
    p.add_argument("--to", dest="until", type=_time, help="default: now")


@command("adoption", "a tenant's MFA adoption", _adoption_args)
async def _adoption(stores: Stores, args: argparse.Namespace, out: TextIO) -> int:
    now = stores.clock.time()
    since = args.since if args.since is not None else (args.until or now) - 30 * 86400
    return _print(out, await adoption.adoption(stores.db, args.tenant, since=since,
                                               until=args.until, now=now))


@command("lifecycle", "every kind of credential: who creates it, its cap, the strategy that "
         "switches it off, what each removal path does (a Markdown table)", lambda p: None)
async def _lifecycle(stores: Stores, args: argparse.Namespace, out: TextIO) -> int:
    out.write(registry.lifecycle_table() + "\n")
    return 0


def _prune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--older-than", type=float, default=30, metavar="DAYS",
                   help="keep the last DAYS days (default 30)")


@command("prune-outbox", "delete old security events the webhooks and notifications are done "
         "with (the audit trail keeps them)", _prune_args)
async def _prune(stores: Stores, args: argparse.Namespace, out: TextIO) -> int:
    s = stores.settings
    removed = await stores.outbox.prune(stores.clock.time() - args.older_than * 86400,
                                        webhooks=bool(s.webhook_urls),
                                        notifications=s.notifications)
    return _print(out, {"removed": removed})


def _retention_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--audit-days", type=float, metavar="DAYS",
                   help="keep audit rows of the last DAYS days (default MFA_AUDIT_RETENTION_DAYS;"
                        " 0 keeps them all)")
    p.add_argument("--outbox-days", type=float, metavar="DAYS",
                   help="keep outbox events of the last DAYS days (default "
                        "MFA_OUTBOX_RETENTION_DAYS; 0 keeps them all)")


@command("prune", "delete audit rows past their retention, outbox events the consumers are "
         "done with, and expired mfaToken uses, in batches (what the operators service runs "
         "every MFA_PRUNE_INTERVAL seconds)", _retention_args)
async def _prune_all(stores: Stores, args: argparse.Namespace, out: TextIO) -> int:
    s = stores.settings
    pruned = await retention.prune(
        stores.db, now=stores.clock.time(),
        audit_days=s.audit_retention_days if args.audit_days is None else args.audit_days,
        outbox_days=s.outbox_retention_days if args.outbox_days is None else args.outbox_days,
        webhooks=bool(s.webhook_urls), notifications=s.notifications)
    return _print(out, dataclasses.asdict(pruned))


def parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    for module in PLUGINS:
        importlib.import_module(module)
    p = argparse.ArgumentParser(prog="mfa-admin", description="MFA admin operations against "
                                "the configured database and Redis")
    p.add_argument("--actor", help="who acts (audit); default cli:<login name>")
    sub = p.add_subparsers(dest="command", required=True)
    for c in COMMANDS.values():
        c.arguments(sub.add_parser(c.name, help=c.help))
    return p


async def _open(settings: Settings) -> Stores:
    """Split/Kubernetes configuration (Redis and a database), else embedded mode's files."""
    if settings.redis_url and settings.database_url:
        return await open_stores(settings, SystemClock())
    return await open_embedded_stores(settings, SystemClock())


async def run(argv: list[str], out: TextIO = sys.stdout) -> int:
    """Parse, open the stores, run the subcommand; MFA errors print their envelope (1)."""
    args = parser().parse_args(argv)
    env = dict(os.environ)
    given = [name for name in ("MFA_REDIS_URL", "MFA_DATABASE_URL") if env.get(name, "").strip()]
    if len(given) == 1:
        # Half a production configuration would open an in-memory Redis (an unlock that
        # lifts nothing) or seal imports with generated keys the services cannot open.
        missing = "MFA_DATABASE_URL" if given == ["MFA_REDIS_URL"] else "MFA_REDIS_URL"
        sys.stderr.write(f"mfa-admin: {given[0]} is set but {missing} is not: set both (the "
                         "deployment's stores) or neither (embedded mode's files)\n")
        return 2
    if not given:
        from shared.devkeys import ensure_dev_keys

        env = ensure_dev_keys(env.get("MFA_VAR_DIR", "var"), env)
    stores = await _open(Settings.from_env(env))
    try:
        return await COMMANDS[args.command].run(stores, args, out)
    except MfaError as e:
        sys.stderr.write(json.dumps(e.body()) + "\n")
        return 1
    finally:
        await stores.close()


def main() -> None:
    """Console script entry point."""
    sys.exit(asyncio.run(run(sys.argv[1:])))
