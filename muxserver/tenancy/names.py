"""What a tenant may be called: one rule for folders, hosts, URLs and tokens.

A module of its own, without the scanner's imports: the configuration checks
deploy-token names with it in every process (the compiler and the egress
proxy too), and importing the scanner there imported the whole tenant API.
"""

import re

#: A tenant's name: a DNS label in lower case (it is also a host name under
#: ``--base-domain`` and a folder name).
TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}\Z")
