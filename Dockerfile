# testpress-notifier: `notifier run` as a non-root user, state on the /data volume, HTTP
# (/healthz, /readyz, /metrics) on port 8080.
# BASE_IMAGE is any image with Python 3.11+ as `python` (with venv); `make container-test`
# passes a locally made Debian stand-in for python:3.11-slim.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/notifier
WORKDIR /src
# The pinned releases first, in their own layer: a code change does not reinstall them.
# PIP_CONSTRAINT pins the build tools of `pip install .` too.
COPY constraints.txt ./
ENV PIP_CONSTRAINT=/src/constraints.txt
RUN /opt/notifier/bin/pip install --no-cache-dir --requirement constraints.txt
COPY pyproject.toml README.md ./
COPY notifier ./notifier
RUN /opt/notifier/bin/pip install --no-cache-dir --no-deps . \
    && /opt/notifier/bin/pip check

FROM ${BASE_IMAGE}
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /data --shell /usr/sbin/nologin notifier \
    && mkdir -p /data /etc/notifier \
    && chown 10001:10001 /data
COPY --from=build /opt/notifier /opt/notifier
# Default rules: console only, so a container with just the Testpress settings runs (and
# `docker logs` shows the alerts). Your rules: mount a folder over /etc/notifier.
COPY container/rules.yaml /etc/notifier/rules.yaml
COPY container/healthcheck.py /opt/notifier/healthcheck.py
ENV PATH=/opt/notifier/bin:$PATH \
    NOTIFIER_DB=/data/notifier.db \
    NOTIFIER_RULES=/etc/notifier/rules.yaml \
    NOTIFIER_HTTP_ADDR=0.0.0.0:8080 \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/opt/notifier/healthcheck.py"]
ENTRYPOINT ["notifier"]
CMD ["run"]
