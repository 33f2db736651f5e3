"""An execo_g5k-compatible toolbox over the Grid'5000 REST API.

The names and shapes of ``execo_g5k`` (``oarsub``, ``get_oar_job_nodes``, ``deploy`` ...), with
the implementation the :class:`~enoslib.infra.enos_g5k.G5k` provider uses: same client (explicit
URI, retries with backoff), same on-disk reference cache, same job and deployment logic.
Frontends are site names; nothing is run over SSH on frontends.

>>> from enoslib.g5k import OarSubmission, oarsub, get_oar_job_nodes
>>> [(job_id, site)] = oarsub([(OarSubmission("nodes=2", walltime=3600), "rennes")])
>>> hosts = get_oar_job_nodes(job_id, site)
"""

from enoslib.g5k.api_utils import (
                                   APIConnection,
                                   canonical_host_name,
                                   filter_clusters,
                                   get_cluster_attributes,
                                   get_cluster_hosts,
                                   get_cluster_jobtypes,
                                   get_cluster_network_equipments,
                                   get_cluster_queues,
                                   get_cluster_site,
                                   get_g5k_clusters,
                                   get_g5k_hosts,
                                   get_g5k_sites,
                                   get_host_attributes,
                                   get_host_cluster,
                                   get_host_interface,
                                   get_host_longname,
                                   get_host_network_equipments,
                                   get_host_shortname,
                                   get_host_site,
                                   get_hosts_metric,
                                   get_kavlan_host_name,
                                   get_network_equipment_attributes,
                                   get_network_equipment_site,
                                   get_resource_attributes,
                                   get_site_attributes,
                                   get_site_clusters,
                                   get_site_hosts,
                                   get_site_network_equipments,
                                   group_hosts,
)
from enoslib.g5k.charter import g5k_charter_remaining, g5k_charter_time, get_next_charter_period
from enoslib.g5k.config import (
    default_frontend_connection_params,
    default_oarsh_oarcp_params,
    frontend_address,
    g5k_configuration,
)
from enoslib.g5k.kadeploy import Deployment, Kadeployer, deploy
from enoslib.g5k.oar import (
                                   OarSubmission,
                                   get_current_oar_jobs,
                                   get_oar_job_info,
                                   get_oar_job_kavlan,
                                   get_oar_job_nodes,
                                   get_oar_job_subnets,
                                   oardel,
                                   oarsub,
                                   oarsubgrid,
                                   wait_oar_job_start,
)
from enoslib.g5k.oargrid import (
                                   get_current_oargrid_jobs,
                                   get_oargrid_job_info,
                                   get_oargrid_job_nodes,
                                   get_oargrid_job_oar_jobs,
                                   oargriddel,
                                   oargridsub,
                                   wait_oargrid_job_start,
)
from enoslib.g5k.time_utils import (
                                   format_date,
                                   format_duration,
                                   format_oar_date,
                                   format_oar_duration,
                                   get_seconds,
                                   get_unixts,
                                   oar_date_to_unixts,
                                   oar_duration_to_seconds,
)
from enoslib.g5k.utils import G5kAutoPortForwarder
from enoslib.infra.enos_g5k.client import G5kClient, reset_api, set_api

__all__ = [
    "Deployment", "G5kClient", "OarSubmission", "canonical_host_name", "deploy", "format_date", "format_duration",
    "format_oar_date", "format_oar_duration", "g5k_charter_time", "g5k_configuration", "default_frontend_connection_params", "default_oarsh_oarcp_params",
    "frontend_address", "get_cluster_attributes",
    "get_cluster_hosts", "get_cluster_jobtypes", "get_cluster_queues", "get_cluster_site",
    "get_current_oar_jobs", "get_g5k_clusters", "get_g5k_hosts", "get_g5k_sites", "get_host_attributes",
    "get_host_cluster", "get_host_interface", "get_host_longname", "get_host_shortname", "get_host_site",
    "get_hosts_metric",
    "get_kavlan_host_name", "get_next_charter_period", "get_oar_job_info", "get_oar_job_kavlan",
    "get_oar_job_nodes", "get_oar_job_subnets", "get_seconds", "get_site_attributes", "get_site_clusters",
    "get_site_hosts", "get_unixts", "group_hosts", "oar_date_to_unixts", "oar_duration_to_seconds", "oardel",
    "oarsub", "oarsubgrid", "reset_api", "set_api", "wait_oar_job_start",
    # network reference and topology (g5k_graph / treemap load networkx on first use)
    "filter_clusters", "g5k_graph", "get_cluster_network_equipments", "get_host_network_equipments",
    "get_network_equipment_attributes", "get_network_equipment_site", "get_resource_attributes",
    "get_site_network_equipments", "treemap",
    # the rest of execo_g5k's API
    "APIConnection", "G5kAutoPortForwarder", "Kadeployer", "g5k_charter_remaining", "get_current_oargrid_jobs",
    "get_oargrid_job_info", "get_oargrid_job_nodes", "get_oargrid_job_oar_jobs", "oargriddel", "oargridsub",
    "wait_oargrid_job_start",
]

from enoslib._lazy import lazy as _lazy  # noqa: E402

__getattr__, __dir__ = _lazy(__name__, globals(), {
    "g5k_graph": ("enoslib.g5k.topology", ("networkx", "topology")),
    "treemap": ("enoslib.g5k.topology", ("networkx", "topology")),
})
