"""What a request to issue a warning carries; pydantic checks it (422 names the field at fault)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

MSG_TYPES = ("Alert", "Update", "Cancel")

Headline = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=160)]
"""CAP advises headlines short enough for a text message."""
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class WarningIn(BaseModel):
    """An Alert, or an Update or Cancel of the incident's warning in force. ``expires`` without an offset is read
    in the district's time; a Cancel may leave it out (an hour after sending)."""

    model_config = ConfigDict(extra="forbid")

    msg_type: Literal["Alert", "Update", "Cancel"]
    headline: Headline
    description: Text
    instruction: Text | None = None
    expires: dt.datetime | None = None
