"""The names tenant code may read on the request (``flask.request``,
``mux.request``, a handler's ``request`` argument).

One list for the two places that use it: the request's declaration
(:class:`muxserver.tenant_api.request.TenantRequest`) and the deploy-time
check that refuses, with file and line, a name it does not have
(:func:`muxserver.tenancy.reading.read_sandboxed_module`), which runs in the
compiler process and must not import the tenant API.
"""

REQUEST_NAMES = frozenset("""
    method path full_path script_root url base_url url_root host_url host scheme is_secure
    query_string args view_args endpoint blueprint remote_addr access_route headers cookies
    content_type mimetype mimetype_params content_length authorization origin referrer
    accept_mimetypes accept_languages accept_charsets accept_encodings user_agent date
    if_match if_none_match if_modified_since if_unmodified_since range root_url
    max_content_length form values files data stream get_data is_json json get_json
""".split())
