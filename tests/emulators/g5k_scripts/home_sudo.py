"""Grid'5000 as a regular user: the home directory is the same on a site's frontend and on its
nodes (NFS), a job without deploy gives a user session on the node and root through sudo-g5k.
Put input data in the home from the frontend, compute on a node, read the result back."""

import logging

import enoslib as en
from enoslib.infra.enos_g5k.g5k_api_utils import get_api_username

en.init_logging(level=logging.WARNING)

login = get_api_username()
frontend = en.Host("rennes.grid5000.fr", user=login)
en.run_command("mkdir -p ~/dryrun && echo 'input data' > ~/dryrun/input.txt", roles=[frontend])

conf = (
    en.G5kConf.from_settings(job_name="dryrun-home", walltime="0:30:00")
    .add_machine(roles=["compute"], cluster="parasilo", nodes=1)
    .finalize()
)
provider = en.G5k(conf)
roles, networks = provider.init()
node = roles["compute"][0]
as_user = en.Host(node.address, user=login, extra=node.extra)  # the user's own session
r = en.run_command("id -un; id -u; cat ~/dryrun/input.txt; sudo-g5k id -un; "
                   "wc -c < ~/dryrun/input.txt > ~/dryrun/output.txt", roles=[as_user])
print("NODE", " | ".join(r[0].stdout.splitlines()))
r = en.run_command("whoami", roles=roles["compute"])       # EnOSlib's own root access
print("ROOT", r[0].stdout.strip())
r = en.run_command("id -u; cat ~/dryrun/output.txt; hostname", roles=[frontend])
print("FRONTEND", " | ".join(r[0].stdout.splitlines()))
provider.destroy()
