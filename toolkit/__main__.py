"""`python -m edgekit`: the CLI (what each batch job runs, with this interpreter)."""
from .cli import main

main()
