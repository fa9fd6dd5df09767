# supgrpcd as a container's init (PID 1), running examples/container/supervisord.conf.
#
#   docker build -t supgrpc .
#   docker run --rm -p 8080:8080 supgrpc                       # the example config
#   docker run --rm supgrpc -- python3 -m http.server 8080     # one program, like tini -- CMD
#   docker build --build-arg SUPGRPC_UID=0 -t supgrpc:root .   # keep running as root
#
# docs/container.md explains the choices (PID 1, exit statuses, health, probes).
ARG PYTHON_VERSION=3.12
FROM python:${PYTHON_VERSION}-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The package only (no test extras): the daemon, the client and its generated gRPC code.
WORKDIR /tmp/supgrpc-src
COPY pyproject.toml README.md ./
COPY supervisor_grpc/ supervisor_grpc/
COPY client/ client/
RUN pip install . \
    && cd / && rm -rf /tmp/supgrpc-src \
    && supgrpcd --version

# The example config and what its programs need.
COPY examples/container/supervisord.conf /etc/supgrpc/supervisord.conf
COPY examples/container/worker.py /etc/supgrpc/worker.py
RUN mkdir -p /srv/www \
    && echo '<h1>served by a program under supgrpcd</h1>' > /srv/www/index.html

# An unprivileged user by default (numeric, so that Kubernetes' runAsNonRoot can verify it);
# --build-arg SUPGRPC_UID=0 keeps root, needed only when programs use user= to switch users.
# Everything the init writes is in /tmp, so any UID works, even one the platform assigns.
ARG SUPGRPC_UID=10001
RUN if [ "$SUPGRPC_UID" != "0" ]; then \
        groupadd --system --gid "$SUPGRPC_UID" supgrpc \
        && useradd --system --uid "$SUPGRPC_UID" --gid "$SUPGRPC_UID" --no-create-home \
            --home-dir /nonexistent --shell /usr/sbin/nologin supgrpc; \
    fi
USER ${SUPGRPC_UID}:${SUPGRPC_UID}
WORKDIR /

EXPOSE 8080
# SIGTERM (docker stop) is an orderly shutdown: dependents first, then by priority; exit 0.
STOPSIGNAL SIGTERM
# Exit 0 when the init's gRPC health is SERVING (over the unix socket of [grpc] listen).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["supgrpc-cli", "-s", "unix:///tmp/supgrpc.sock", "health"]

ENTRYPOINT ["supgrpcd"]
CMD ["-c", "/etc/supgrpc/supervisord.conf"]
