"""The names tenant code may read on its Flask app (``app``, ``current_app``).

One list for the two places that use it, as :mod:`.request_names` is for the
request: the app's declaration (:class:`muxserver.tenant_api.shim.Flask`)
and the deploy-time check (:func:`muxserver.tenancy.reading.read_sandboxed_module`)
that refuses, with file and line, a name Flask 3.1's app has and the
sandbox's does not (``current_app.make_default_options_response()`` was an
AttributeError on the first request, where Flask answers).
"""

#: What the sandbox's ``Flask`` (and ``Blueprint``) offer.
APP_NAMES = frozenset("""
    import_name name config url_prefix template_folder static_folder root_path debug testing
    secret_key permanent_session_lifetime logger route get post put patch delete add_url_rule
    errorhandler register_error_handler before_request after_request teardown_request
    teardown_appcontext context_processor register_blueprint run instance_path cli
    open_resource app_context test_request_context is_blueprint jinja_env template_filter
    add_template_filter template_global add_template_global template_test add_template_test
    url_value_preprocessor url_defaults url_map json send_static_file static_url_path
    has_static_folder wsgi_app
""".split())

#: Every public name of a Flask 3.1 app (``dir(Flask(__name__))``: its
#: class's and those its ``__init__`` sets), so a name outside it
#: (``app.db = ...``, set by the tenant) is the tenant's own.
FLASK_APP_NAMES = frozenset("""
    aborter aborter_class add_template_filter add_template_global add_template_test
    add_url_rule after_request after_request_funcs app_context app_ctx_globals_class
    async_to_sync auto_find_instance_path before_request before_request_funcs blueprints cli
    config config_class context_processor create_global_jinja_loader
    create_jinja_environment create_url_adapter debug default_config delete dispatch_request
    do_teardown_appcontext do_teardown_request endpoint ensure_sync error_handler_spec
    errorhandler extensions finalize_request full_dispatch_request get get_send_file_max_age
    handle_exception handle_http_exception handle_url_build_error handle_user_exception
    has_static_folder import_name inject_url_defaults instance_path iter_blueprints
    jinja_env jinja_environment jinja_loader jinja_options json json_provider_class
    log_exception logger make_aborter make_config make_default_options_response
    make_response make_shell_context name open_instance_resource open_resource patch
    permanent_session_lifetime post preprocess_request process_response put
    raise_routing_exception redirect register_blueprint register_error_handler request_class
    request_context response_class root_path route run secret_key select_jinja_autoescape
    send_static_file session_interface shell_context_processor shell_context_processors
    should_ignore_error static_folder static_url_path subdomain_matching teardown_appcontext
    teardown_appcontext_funcs teardown_request teardown_request_funcs
    template_context_processors template_filter template_folder template_global
    template_test test_cli_runner test_cli_runner_class test_client test_client_class
    test_request_context testing trap_http_exception update_template_context
    url_build_error_handlers url_default_functions url_defaults url_for url_map
    url_map_class url_rule_class url_value_preprocessor url_value_preprocessors
    view_functions wsgi_app
""".split())


#: ``app.wsgi_app = ProxyFix(app.wsgi_app, ...)``: the most proxies one
#: ``X-Forwarded-*`` header may be trusted for (a longer chain is no
#: deployment anyone runs; the bound keeps werkzeug's parse of the header
#: the only cost), and how many ``ProxyFix`` may wrap ``app.wsgi_app``.
#: Read by the app (:mod:`muxserver.tenant_api.proxyfix`) and the deploy
#: check (:func:`muxserver.tenancy.reading.read_sandboxed_module`).
PROXY_FIX_MAX_TRUSTED = 10
PROXY_FIX_MAX_NESTING = 2
