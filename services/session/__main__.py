"""Run the session service on its own (split mode)."""

from services.session.app import create_app
from shared.http.web import serve

serve(create_app)
