"""The Distem configuration schema (``schemas/distem.json``) and its validation.

>>> from enoslib.infra.enos_distem.schema import validate
>>> validate({"resources": {"machines": [{"roles": ["r"], "cluster": "paravance", "number": 0}]}})
Traceback (most recent call last):
...
enoslib.errors.EnosConfigError: invalid distem configuration at $.resources.machines[0].number: 0 is less than the minimum of 1 (rule: minimum)
"""

from __future__ import annotations

from typing import Any

from enoslib.infra import configuration

__all__ = ["SCHEMA_NAME", "schema", "validate"]

SCHEMA_NAME = "distem"


def schema() -> dict[str, Any]:
    """The JSON schema of a Distem configuration (Distem Schema, Resource, Compute, Flavour)."""
    return configuration.load_schema(SCHEMA_NAME)


def validate(data: Any) -> None:
    """Check a configuration dictionary; an error names the JSON path and the rule broken."""
    configuration.validate(SCHEMA_NAME, data)
