"""Run the SMS service on its own (split mode)."""

from services.sms.app import create_app
from shared.logs import configure_logging
from shared.settings import Settings
from shared.web import run

settings = Settings.from_env()
configure_logging(settings.log_level)
run(create_app(settings), settings)
