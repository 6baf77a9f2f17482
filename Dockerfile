# testpress-notifier: runs `notifier run` as a non-root user, state on the /data volume.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY notifier ./notifier
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /data --shell /usr/sbin/nologin notifier \
    && mkdir -p /data /etc/notifier \
    && chown notifier:notifier /data
COPY --from=build /install /usr/local
COPY rules.yaml /etc/notifier/rules.yaml
ENV NOTIFIER_DB=/data/notifier.db \
    NOTIFIER_RULES=/etc/notifier/rules.yaml \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
WORKDIR /data
USER 10001
STOPSIGNAL SIGTERM
ENTRYPOINT ["notifier"]
CMD ["run"]
