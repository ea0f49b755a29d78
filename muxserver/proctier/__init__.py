"""The process tier: tenants that run as plain CPython in processes of their own.

For code the sandbox cannot run (C extensions, packages from PyPI, private
names), when tenant.toml says ``runtime = "process"`` and the operator's
``process_tenants`` allows it (SPEC "The process tier"):

* :mod:`.requirements` — ``requirements.txt``, installed by the supervisor
  at deploy time into a read-only site folder per set of requirements;
* :mod:`.zygote` — the warm interpreter that forks tenants' processes;
  :mod:`.launcher` starts it and is the serving process's end of it;
* :mod:`.host` and :mod:`.tenantapp` — the tenant's process: set up, locked
  down (:mod:`.confine`), answering requests;
* :mod:`.manager` — the serving process's side: processes per tenant
  version, limits enforced from outside, idle processes stopped;
* :mod:`.wire` — the frames between them.

Modules the zygote imports (``wire``, ``host``, ``tenantapp``, ``confine``,
``zygote``) import neither gevent nor the rest of the server.
"""
