from enoslib.infra.local.configuration import LocalConf
from enoslib.infra.local.provider import Local

__all__ = ["Local", "LocalConf"]
