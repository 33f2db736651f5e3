from enoslib.infra.enos_static.configuration import StaticConf
from enoslib.infra.enos_static.provider import Static

__all__ = ["Static", "StaticConf"]
