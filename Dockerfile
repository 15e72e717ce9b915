# syntax=docker/dockerfile:1
# The Unwind image: the `unwind` command with the engine daemon as its default. The same image
# runs the FIX simulator and the demo OMS in docker-compose.yml (a different `command:`).
#
#   docker build -t unwind .
#   docker run --rm unwind run --config deploy/compose/engine.toml --check

ARG PYTHON=python:3.11-slim-bookworm

# --- 1. the QuickFIX wheel, alone in its layers ---------------------------------------------
# The official `quickfix` package compiles its C++ from source (about 5 minutes on 2 cores).
# This stage depends on nothing from the repository, so the wheel stays cached until the pin
# changes. Keep the pin equal to what pyproject.toml allows and the suite was run with.
FROM ${PYTHON} AS quickfix
ARG QUICKFIX_VERSION=1.16.0
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ make \
 && rm -rf /var/lib/apt/lists/*
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels "quickfix==${QUICKFIX_VERSION}"

# --- 2. the virtual environment: dependencies first, then the source ----------------------
FROM ${PYTHON} AS build
COPY --from=quickfix /wheels /wheels
RUN python -m venv /opt/unwind
WORKDIR /app
# Dependencies are installed from pyproject.toml and empty packages, so editing the source
# does not reinstall numpy and numba. The install is editable: the code stays in /app beside
# deploy/, where it finds the QuickFIX data dictionaries as it does in a checkout.
COPY pyproject.toml README.md ./
RUN mkdir engine adapters strategies risk \
 && touch engine/__init__.py adapters/__init__.py strategies/__init__.py risk/__init__.py \
 && /opt/unwind/bin/pip install --no-cache-dir --find-links /wheels -e .
COPY engine engine
COPY adapters adapters
COPY strategies strategies
COPY risk risk
COPY deploy deploy

# --- 3. the runtime: no compiler, a non-root user -------------------------------------------
FROM ${PYTHON}
# libstdc++ for the QuickFIX extension; tini reaps children and passes SIGTERM on, so the
# daemon drains (cancels its children) when `docker compose stop` asks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libstdc++6 tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 --shell /usr/sbin/nologin unwind \
 && mkdir -p /var/lib/unwind \
 && chown unwind:unwind /var/lib/unwind
COPY --from=build /opt/unwind /opt/unwind
COPY --from=build /app /app
WORKDIR /app
ENV PATH=/opt/unwind/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    NUMBA_CACHE_DIR=/var/lib/unwind/numba-cache
USER unwind
# The FIX OMS acceptor, the REST API (/metrics); the simulator's FIX, WebSocket, metrics.
EXPOSE 9880 8080 9878 8765 9101
VOLUME ["/var/lib/unwind"]
ENTRYPOINT ["/usr/bin/tini", "--", "unwind"]
CMD ["run", "--config", "deploy/compose/engine.toml"]
