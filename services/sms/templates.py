"""The SMS text per locale; the locale comes from Accept-Language (RFC 9110 section 12.5.4)."""

from __future__ import annotations

# The code goes first so phones can offer it for autofill; the text says it must not be shared,
# since "send me the code you just got" is how SMS codes are phished.
TEMPLATES: dict[str, str] = {
    "en": "{code} is your {issuer} verification code. It expires in {minutes} minutes. "
          "Do not share it.",
    "de": "{code} ist Ihr {issuer}-Bestätigungscode. Er läuft in {minutes} Minuten ab. "
          "Geben Sie ihn nicht weiter.",
    "fr": "{code} est votre code de vérification {issuer}. Il expire dans {minutes} minutes. "
          "Ne le partagez pas.",
    "es": "{code} es tu código de verificación de {issuer}. Caduca en {minutes} minutos. "
          "No lo compartas.",
    "it": "{code} è il tuo codice di verifica {issuer}. Scade tra {minutes} minuti. "
          "Non condividerlo.",
    "pt": "{code} é o seu código de verificação {issuer}. Expira em {minutes} minutos. "
          "Não o partilhe.",
    "nl": "{code} is je {issuer}-verificatiecode. Hij verloopt over {minutes} minuten. "
          "Deel hem niet.",
}
DEFAULT_LOCALE = "en"


def _weighted(item: str) -> tuple[float, str]:
    tag, _, params = item.strip().partition(";")
    q = 1.0
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value)
            except ValueError:
                q = 0.0
    return q, tag.strip().lower()


def pick_locale(accept_language: str | None) -> str:
    """The best locale we have a template for (primary subtag, by weight), else English."""
    if not accept_language:
        return DEFAULT_LOCALE
    ranked = sorted((_weighted(i) for i in accept_language[:500].split(",")),
                    key=lambda w: -w[0])
    for q, tag in ranked:
        primary = tag.split("-", 1)[0]
        if q > 0 and primary in TEMPLATES:
            return primary
    return DEFAULT_LOCALE


def render(locale: str, *, code: str, issuer: str, ttl_seconds: int) -> str:
    """The message text in the locale (English when unknown)."""
    template = TEMPLATES.get(locale, TEMPLATES[DEFAULT_LOCALE])
    return template.format(code=code, issuer=issuer, minutes=max(1, ttl_seconds // 60))
