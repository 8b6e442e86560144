"""Run the totp service on its own (split mode)."""

from services.totp.app import create_app
from shared.http.web import serve

serve(create_app)
