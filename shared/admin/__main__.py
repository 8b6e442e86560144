"""`python -m shared.admin ...`: see shared.admin.cli."""

from shared.admin.cli import main

main()
