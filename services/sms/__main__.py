"""Run the SMS service on its own (split mode)."""

from services.sms.app import create_app
from shared.http.web import serve

serve(create_app)
