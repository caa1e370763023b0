# The telecare application image: every part of the platform (`telecare run ingest|store|rules|alerts|web|
# outreach`) and the one-shot commands (`telecare db upgrade`, `telecare devices mqtt-acl`) run from it.
# docker-compose.yml builds it once and starts each service with its own command; docs/operations.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The source tree (less what .dockerignore keeps out: tests, caches, local data, secrets), installed as a
# regular (not editable) package; the build tree is removed so only site-packages remains.
COPY . /src
RUN pip install /src && rm -rf /src

# Never root: a fixed uid so volumes and files written by one-shot jobs have a known owner.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/telecare --create-home telecare
USER telecare
WORKDIR /var/lib/telecare

# Inside a container the parts listen on every interface of the private network (compose does not publish
# them); the data dir only matters without TELECARE_DATABASE_URL, which the stack always sets.
ENV TELECARE_HTTP_HOST=0.0.0.0 \
    TELECARE_HTTP_PORT=8000 \
    TELECARE_DATA_DIR=/var/lib/telecare
EXPOSE 8000

ENTRYPOINT ["telecare"]
CMD ["--help"]
