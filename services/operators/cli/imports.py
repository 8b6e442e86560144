"""`python -m services.operators.cli import FILE`: the native bulk import (JSON lines, see
services.operators.importing) from a shell. One JSON result per line on stdout, then a summary;
exit status 1 when any line failed (every other line was still imported)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import TextIO

from services.operators.cli import command
from services.operators.importing import import_lines
from shared.stores.bundle import Stores


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=argparse.FileType("r", encoding="utf-8"),
                   help="JSON lines, one user per line ('-' reads stdin)")


@command("import", "import users' TOTP seeds, phones and WebAuthn credentials (JSON lines)",
         _arguments)
async def _import(stores: Stores, args: argparse.Namespace, out: TextIO) -> int:
    actor = args.actor or f"cli:{getpass.getuser()}"
    source: TextIO = args.file
    ok = failed = 0
    try:
        async for result in import_lines(stores, source, actor=actor):
            out.write(json.dumps(result) + "\n")
            ok, failed = ok + result["ok"], failed + (not result["ok"])
    finally:
        if source is not sys.stdin:
            source.close()
    out.write(json.dumps({"imported": ok, "failed": failed}) + "\n")
    return 1 if failed else 0
