from enoslib.infra.static.configuration import StaticConf
from enoslib.infra.static.provider import Static

__all__ = ["Static", "StaticConf"]
