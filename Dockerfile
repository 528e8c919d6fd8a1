# The hearing platform's image: one process serving HTTP, signalling, the web client and the media relay.
# Build and run it with docker-compose (see docs/deployment.md); it expects PostgreSQL, Redis and S3 via env.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HEARING_ENV=production \
    HEARING_HOST=0.0.0.0 \
    HEARING_PORT=8000 \
    HEARING_VAR_DIR=/var/lib/hearing

RUN groupadd --system --gid 10001 hearing \
 && useradd --system --uid 10001 --gid hearing --home-dir /srv/hearing --no-create-home \
            --shell /usr/sbin/nologin hearing \
 && mkdir -p /srv/hearing /var/lib/hearing \
 && chown hearing:hearing /var/lib/hearing

WORKDIR /srv/hearing

# Dependencies first, exactly as locked (requirements.lock: pip-compile of pyproject.toml, every transitive
# package pinned), so editing the code does not reinstall them and every build gets the same versions.
# (aiortc, av, asyncpg and cryptography all ship manylinux wheels: no compiler needed.)
COPY pyproject.toml requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

COPY README.md ./
COPY app/ app/
COPY signaling/ signaling/
COPY media/ media/
COPY hearing/ hearing/
COPY recordings/ recordings/
COPY docket/ docket/
COPY integrity/ integrity/
COPY points/ points/
COPY petitions/ petitions/
COPY stations/ stations/
COPY web/ web/
COPY bench/ bench/
# Editable on purpose: app/factory.py serves the web client from ../web next to the packages, which a
# regular install into site-packages would leave behind. The source tree stays root-owned and read-only
# for the service user.
RUN pip install --no-deps -e . \
 && python -m compileall -q app signaling media hearing recordings docket integrity points petitions stations bench

USER hearing
VOLUME ["/var/lib/hearing"]
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('HEARING_PORT', '8000'), timeout=4)"]

CMD ["hearing", "serve", "--host", "0.0.0.0"]
