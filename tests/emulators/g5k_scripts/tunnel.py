"""Reach a web service running on a Grid'5000 node from the laptop (EnOSlib's G5kTunnel: an SSH
tunnel through access.grid5000.fr). The node is deployed; the reservation is then reloaded, as
when a notebook cell runs again: the job and the deployed environment are reused."""

import logging
import time
import urllib.request

import enoslib as en

en.init_logging(level=logging.WARNING)

conf = (
    en.G5kConf.from_settings(job_name="dryrun-tunnel", job_type=["deploy"],
                             env_name="debian12-min", walltime="0:30:00")
    .add_machine(roles=["web"], cluster="paradoxe", nodes=1)
    .finalize()
)
provider = en.G5k(conf)
provider.init()
roles, networks = en.G5k(conf).init()      # reload: same job, environment already there
web = roles["web"][0]
en.run_command(
    "mkdir -p /tmp/www && hostname > /tmp/www/index.html && "
    "(setsid python3 -m http.server 8080 --directory /tmp/www >/dev/null 2>&1 < /dev/null &)",
    roles=roles["web"],
)
with en.G5kTunnel(web.address, 8080) as (local_address, local_port, _):
    for _ in range(50):                    # the server may take a moment to listen
        try:
            with urllib.request.urlopen(f"http://{local_address}:{local_port}/", timeout=5) as page:
                body = page.read().decode()
            break
        except OSError:
            time.sleep(0.2)
    else:
        raise SystemExit("the web service did not answer through the tunnel")
print("LOCAL", local_address)
print("PAGE", body.strip())
provider.destroy()
