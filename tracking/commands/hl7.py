"""`workup hl7`: HL7 v2 from the RIS. (The listener, import and message log join this group.)"""

from __future__ import annotations

import typer

from tracking.commands import hl7_inbox

app = typer.Typer(help="HL7 v2 from the RIS: the inbox of messages waiting for a person.", no_args_is_help=True)
app.add_typer(hl7_inbox.app, name="inbox")
