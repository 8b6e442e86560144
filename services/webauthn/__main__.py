"""Run the webauthn service on its own (split mode)."""

from services.webauthn.app import create_app
from shared.http.web import serve

serve(create_app)
