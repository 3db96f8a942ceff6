"""JSON Schemas (draft 2020-12) of every record on chatguard's topics, generated from the code.

Incoming kinds from their field specs (``streams.kinds``), outgoing records from their dataclass
fields (``streams.records.OUTPUT_RECORDS``). ``python -m streams.schemas schemas`` writes them;
a test checks that the committed ``schemas/`` is exactly what this generates.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

from streams.ids import schema_pattern
from streams.kinds import BY_TYPE, FIELD_SPECS, KINDS
from streams.records import OUTPUT_RECORDS

DRAFT = "https://json-schema.org/draft/2020-12/schema"
ID_PATTERN = schema_pattern()
ID_DESCRIPTION = (
    "An id: not empty or only whitespace, and without control characters, format characters "
    "(bidi controls, zero-width characters, tags) or line and paragraph separators (Unicode "
    "categories Cc, Cf, Zl, Zp). The pattern lists those up to U+FFFF; the few format "
    "characters above it are refused as well."
)
JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array"}


def event_schema(event_type: str) -> dict[str, Any]:
    """The schema of one incoming event type (extra fields are allowed and ignored)."""
    kind = BY_TYPE[event_type]
    properties: dict[str, Any] = {"type": {"const": event_type}}
    required = []
    for name, spec in FIELD_SPECS[event_type].items():
        kinds = sorted(
            {JSON_TYPES[t] for t in spec.types if t in JSON_TYPES}
            - ({"integer"} if float in spec.types else set())
        )
        prop: dict[str, Any] = {"type": kinds[0] if len(kinds) == 1 else kinds}
        if spec.item_type is not None:
            prop["items"] = {"type": JSON_TYPES[spec.item_type]}
        if spec.choices:
            prop["enum"] = list(spec.choices)
        if name in kind.text_fields and spec.required:
            prop["minLength"] = 1
        if spec.types == (str,) and name.endswith("_id"):  # streams.ids
            prop["pattern"] = ID_PATTERN
            prop["description"] = ID_DESCRIPTION
        properties[name] = prop
        if spec.required:
            required.append(name)
    return {
        "$schema": DRAFT,
        "title": kind.record.__name__,
        "description": (kind.record.__doc__ or "").strip(),
        "type": "object",
        "properties": properties,
        "required": required,
    }


def output_schema(record: type) -> dict[str, Any]:
    """The schema of an output record: exactly its fields, every one present."""
    hints = typing.get_type_hints(record)
    fields = [field.name for field in dataclasses.fields(record)]
    return {
        "$schema": DRAFT,
        "title": record.__name__,
        "description": " ".join((record.__doc__ or "").split()),
        "type": "object",
        "properties": {name: _type_schema(hints[name]) for name in fields},
        "required": fields,
        "additionalProperties": False,
    }


def _type_schema(hint: Any) -> dict[str, Any]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return {"type": "string", "enum": list(args)}
    if origin in (types.UnionType, typing.Union):
        inner = [_type_schema(arg) for arg in args if arg is not type(None)]
        if len(inner) == 1 and set(inner[0]) == {"type"}:
            return {"type": [inner[0]["type"], "null"]}
        return {"anyOf": [*inner, {"type": "null"}]}
    if origin is tuple and args[-1] is not Ellipsis:  # a fixed-length tuple: a pair, ...
        items = [_type_schema(arg) for arg in args]
        size = len(items)
        return {"type": "array", "prefixItems": items, "minItems": size, "maxItems": size}
    if origin in (tuple, list):
        return {"type": "array", "items": _type_schema(args[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type_schema(args[1])}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):  # a record inside a record
        nested = output_schema(hint)
        return {
            key: nested[key] for key in ("type", "properties", "required", "additionalProperties")
        }
    return {"type": JSON_TYPES[hint]}


def all_schemas() -> dict[str, dict[str, Any]]:
    """File name → schema, for every incoming event type and every output record."""
    schemas = {f"{kind.event_type}.schema.json": event_schema(kind.event_type) for kind in KINDS}
    for name, record in OUTPUT_RECORDS.items():
        schemas[f"{name}.schema.json"] = output_schema(record)
    return schemas


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_schemas(folder: Path) -> list[Path]:
    """Write every schema into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in all_schemas().items():
        path = folder / name
        path.write_text(render(schema))
        written.append(path)
    return written


if __name__ == "__main__":  # python -m streams.schemas schemas
    for written_path in write_schemas(Path(sys.argv[1] if len(sys.argv) > 1 else "schemas")):
        print(written_path)
