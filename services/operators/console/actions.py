"""What the console does to a user, each through the core the admin API and the CLI use
(shared.mfa.resets, shared.mfa.remember): never a second implementation. Each takes the
operator as the actor and their reason (both kept in the audit row, which raises its event)."""

from __future__ import annotations

from dataclasses import dataclass

from services.operators.console.views import counter_label
from shared.http.errors import BadRequest
from shared.mfa import resets
from shared.mfa.registry import BY_NAME, KINDS, LOCKOUT_FACTORS, RESET
from shared.stores.bundle import Stores


@dataclass(frozen=True)
class Act:
    """One action the console offers: its button's words and what it does."""

    what: str
    effect: str


# What a reset deletes, as the registry declares it (every path's removals are its).
RESET_REMOVES = ", ".join(k.label for k in KINDS if RESET in k.removed_by)
ACTS = {
    "unlock": Act("Unlock", "Clears the wrong-try count, the delay and the lock; the user "
                  "can try again at once."),
    "remove": Act("Remove the factor", "Deletes this credential; the user's trusted devices "
                  "are revoked and their tokens issued before now stop working."),
    "reset": Act("Reset MFA", f"Deletes every credential the user holds ({RESET_REMOVES}); "
                 "the user enrolls again at the next login, and earlier tokens stop working."),
    "revoke-trusted": Act("Revoke the trusted devices", "Every remembered browser of the "
                          "user asks for the second factor again at the next login."),
}
DONE = {"unlock": "Unlocked.", "remove": "The factor is removed.",
        "reset": "The user's MFA is reset.", "revoke-trusted": "The trusted devices are revoked."}


def act(action: str) -> Act:
    """The declared action (400 for any other)."""
    if action not in ACTS:
        raise BadRequest("Unknown action")
    return ACTS[action]


async def describe(stores: Stores, action: str, tenant_id: str, user_id: str,
                   target: str) -> tuple[str, str]:
    """The confirmation's title and effect, naming the target (a factor kind or a device)."""
    a = act(action)
    if action == "unlock" and target:
        if target not in LOCKOUT_FACTORS:
            raise BadRequest("Unknown factor")
        return f"Unlock {counter_label(target)}", a.effect
    if action == "remove":
        device = await stores.devices.get(tenant_id, user_id, target)
        if device is None:
            raise resets.UnknownFactor()
        label = BY_NAME[device.kind].label if device.kind in BY_NAME else device.kind
        return f"Remove {device.name or label}", a.effect
    return a.what, a.effect


async def perform(stores: Stores, actor: resets.Actor, action: str, tenant_id: str,
                  user_id: str, target: str) -> None:
    """Do it, through the shared cores."""
    act(action)
    if action == "unlock":
        await resets.unlock(stores, actor, tenant_id, user_id, target or None)
    elif action == "remove":
        await resets.delete_factor(stores, actor, tenant_id, user_id, target)
    elif action == "reset":
        await resets.reset(stores, actor, tenant_id, user_id)
    else:
        await stores.remembered.revoke_all(tenant_id, user_id, actor.detail())
