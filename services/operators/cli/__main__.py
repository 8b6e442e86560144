"""`python -m services.operators.cli ...`: see services.operators.cli."""

from services.operators.cli import main

main()
