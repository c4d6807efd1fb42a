"""``loyalty schema``: the JSON Schema of program files, for editors and CI checks."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from loyalty.cli.options import writable
from loyalty.errors import InvalidInput
from loyalty.json_schema import program_file_schema


def schema_text() -> str:
    """The schema as the command writes it: indented JSON, non-ASCII kept, one final newline."""
    return json.dumps(program_file_schema(), indent=2, ensure_ascii=False) + "\n"


def schema(args: argparse.Namespace) -> int:
    text = schema_text()
    output: Path | None = args.output
    if output is None:
        print(text, end="")
        return 0
    writable("--output", output)
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput("--output", f"{output} cannot be written: {exc.strerror or exc}") from None
    return 0
