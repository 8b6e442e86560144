"""Run the operators service on its own (split mode)."""

from services.operators.app import create_app
from shared.http.web import serve

serve(create_app)
