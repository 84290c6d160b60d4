"""`python -m manifestc`: the self-update build runs the compiler this way (`python -I -m manifestc`)."""

from .cli import run

run()
