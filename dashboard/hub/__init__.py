"""A class on many machines: JupyterHub gives every student a seat (the dashboard in its own
container) on a Docker Swarm of lab machines.

- `seats.py`: the facts of a seat that both sides share (names, labels, the sentences a student
  reads when the class is full or their machine is gone), no JupyterHub import;
- `spawner.py`: the hub's spawner, dockerspawner's SwarmSpawner made to place seats where IPVS
  and the routing mesh are missing (host-mode ports, dnsrr), to say "the class is full" within
  seconds, and to keep a student on the machine that holds their things;
- `roster.py`: the instructor's roster, a hub service that reads each running seat's progress
  (dashboard/work/seat_routes.py) with its own scoped token, and cleans up after a student;
- `jupyterhub_config.py`: the hub's configuration, read by `jupyterhub -f`;
- `classroom.py`: `python -m dashboard classroom up|status|doctor|move|down`.

The hub runs on the Swarm manager; nothing here is imported by the pages.
"""
