"""A tenant's data beyond one node: its home, its replica, its takeover.

In a fleet every tenant has a *home* node: the one nginx's consistent hash
sends it to (:class:`muxserver.fleet.Placement`). Its data lives there.

* Without ``--replica``, only the home serves the tenant's databases and
  key-value store. Another node that gets the tenant's requests (nginx moved
  them because the home is down) answers 503 for them at the first database
  or ``mux.kv`` call: never an empty database in place of data that exists
  elsewhere. Tenants that keep no state move freely, as before.
* With ``--replica URL`` every database and key-value store of every tenant
  a node serves is replicated continuously by Litestream
  (:mod:`.agent`). The first time a node serves a tenant's data it checks
  the tenant's *claim* in the replica (which node holds it, since which
  takeover): a node that lacks the data, or whose copy is older than the
  replica's, restores it from the replica before the tenant's code opens
  any database.

Serving processes can neither start programs nor open sockets once locked
down, so Litestream and the restores run in an agent process of their own
(:func:`.agent.start_replicator`), which serving processes reach over a
unix socket they connect before lock-down (:mod:`.client`), asking in JSON
lines. :class:`.gate.DataGate` is the one place a serving process decides
whether it may serve a tenant's data.
"""
