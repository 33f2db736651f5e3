"""Configuration of the Static provider (fields: ``schemas/static.json``)."""

from __future__ import annotations

from enoslib.infra.configuration import BaseConfiguration


class StaticConf(BaseConfiguration):
    """Existing machines and networks.

    >>> conf = (StaticConf.from_settings()
    ...         .add_machine(roles=["srv"], address="10.0.0.1", user="root")
    ...         .add_network(roles=["lan"], cidr="10.0.0.0/24", gateway="10.0.0.254"))
    """

    __slots__ = ()
    schema_name = "static"
