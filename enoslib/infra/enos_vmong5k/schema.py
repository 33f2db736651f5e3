"""The VMonG5k JSON schema (``schemas/vmong5k.json``): what configurations are checked against.

>>> from enoslib.infra.enos_vmong5k.schema import SCHEMA
>>> SCHEMA["$defs"]["machine"]["properties"]["flavour"]["enum"][:3]
['tiny', 'small', 'medium']
"""

from __future__ import annotations

from enoslib.infra.configuration import load_schema

__all__ = ["SCHEMA", "STRATEGY"]

#: the schema, as a dict (a copy: changing it changes nothing)
SCHEMA = load_schema("vmong5k")
#: the base image strategies
STRATEGY = list(SCHEMA["properties"]["strategy"]["enum"])
