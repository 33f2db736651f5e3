"""Grid'5000 basic experiment (as in EnOSlib's tutorial): reserve two real clusters' nodes,
run a command on them over SSH, release them."""

import logging

import enoslib as en

en.init_logging(level=logging.WARNING)

conf = (
    en.G5kConf.from_settings(job_name="dryrun-basic", walltime="0:30:00")
    .add_machine(roles=["server"], cluster="parasilo", nodes=1)
    .add_machine(roles=["client"], cluster="paradoxe", nodes=1)
    .finalize()
)
provider = en.G5k(conf)
roles, networks = provider.init()
results = en.run_command("hostname", roles=roles)
print("HOSTS", sorted(r.stdout.strip() for r in results))
provider.destroy()
