"""Run the email service on its own (split mode)."""

from services.email.app import create_app
from shared.http.web import serve

serve(create_app)
