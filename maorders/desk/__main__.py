"""`python -m maorders.desk desk`: the maorders CLI with the desk command, until cli.py registers it."""

from maorders import cli
from maorders.desk.command import desk

if "desk" not in {info.name for info in cli.app.registered_commands}:
    cli.app.command("desk")(desk)
cli.main()
