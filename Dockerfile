# live2d-pose: the three service images, one target each (build context: the
# repository root):
#
#   docker build --target ingest     -t live2d-pose-ingest .
#   docker build --target landmarker -t live2d-pose-landmarker .
#   docker build --target gateway    -t live2d-pose-gateway .
#
# `docker compose build` builds all three. Works with the classic builder and
# with BuildKit (docker 20.10 and later); the bases come from a registry, or
# from scripts/docker-base-images.sh on a machine without one.
#
# Layer order serves rebuilds: the dependencies are installed from
# pyproject.toml alone, before the project's code is copied, so a code change
# rebuilds a few MB instead of MediaPipe's 600. The services' stages come in
# the order ingest, gateway, landmarker, so `--target ingest` never builds
# MediaPipe. Every image runs as user 10001 with an exec-form ENTRYPOINT (the
# Python process itself receives SIGTERM and stops cleanly) and a HEALTHCHECK
# that reads the same settings as the service (LIVE2D_POSE_PORT, ...).

# --- what every service image starts from -----------------------------------
FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/app/bin:/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
ENTRYPOINT ["live2d-pose"]

# --- dependencies: a virtual environment without pip (the base's pip fills it)
# The requirements are read from pyproject.toml first, so that editing its
# other sections leaves the dependency layers cached.
FROM python:3.11-slim-bookworm AS requirements
WORKDIR /src
COPY pyproject.toml scripts/requirements.py ./
RUN python requirements.py > core.txt && python requirements.py landmarker > landmarker.txt

FROM python:3.11-slim-bookworm AS core-deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY --from=requirements /src/core.txt ./
# The project's code lives in /opt/app (the "app" stage); the .pth file puts it
# on the environment's path. Test suites of the dependencies are left out.
RUN python -m venv --without-pip /opt/venv \
    && /opt/venv/bin/python -c "import site; open(site.getsitepackages()[0] + '/live2d-pose.pth', 'w').write('/opt/app\n')" \
    && pip --python /opt/venv/bin/python install -r core.txt \
    && find /opt/venv -depth -type d -name tests -exec rm -rf {} +

# --- the project's code (with console script live2d-pose), no dependencies ---
FROM core-deps AS app
COPY pyproject.toml README.md ./
COPY live2d_pose/ live2d_pose/
COPY services/ services/
COPY bench/ bench/
RUN pip --python /opt/venv/bin/python install --no-deps --target /opt/app .

# ingest and the gateway never load the models (21 MB) or the test media.
FROM app AS app-core
RUN rm -f /opt/app/live2d_pose/landmarker/*.task \
    && rm -rf /opt/app/live2d_pose/testing/media

# --- ingest and the gateway: the same environment, no MediaPipe --------------
FROM runtime AS core-service
COPY --from=core-deps /opt/venv /opt/venv
COPY --from=app-core /opt/app /opt/app
USER 10001:10001

# --- ingest: camera WebSocket (:8765) -> ZeroMQ landmarker pool (:5555) ------
# It only checks image headers and forwards the bytes.
FROM core-service AS ingest
ENV LIVE2D_POSE_HOST=0.0.0.0 \
    LIVE2D_POSE_PORT=8765 \
    LIVE2D_POSE_WORKERS_BIND=tcp://*:5555
EXPOSE 8765 5555
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["live2d-pose", "health", "--service", "ingest"]
CMD ["ingest"]

# --- gateway: results (:5556) -> browsers (:8080 viewer, /ws, /healthz, /metrics)
FROM node:20-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
# the names the viewer shares with the rig (web/src/contract.js imports ../../live2d_pose/rig/contract.json)
# and the tracker table (web/src/protocol.js imports ../../live2d_pose/trackers.json)
COPY live2d_pose/rig/contract.json /live2d_pose/rig/contract.json
COPY live2d_pose/trackers.json /live2d_pose/trackers.json
RUN npm run build -- --no-sourcemap

FROM core-service AS gateway
COPY --from=web /web/dist /app/web/dist
ENV LIVE2D_POSE_HOST=0.0.0.0 \
    LIVE2D_POSE_HTTP_PORT=8080 \
    LIVE2D_POSE_RESULTS_BIND=tcp://*:5556 \
    LIVE2D_POSE_WEB_ROOT=/app/web/dist
EXPOSE 8080 5556
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["live2d-pose", "health", "--service", "gateway"]
CMD ["gateway"]

# --- landmarker: one MediaPipe worker -----------------------------------------
# It listens on nothing; it connects out to ingest (LIVE2D_POSE_INGEST), so run
# as many replicas as there are cores, here or on other hosts.
FROM core-deps AS landmarker-deps
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*
# mediapipe brings opencv-contrib-python (never add opencv-python as well: two
# cv2 packages overwrite each other) and matplotlib. Its libmediapipe.so comes
# with a 30 MB symbol table that only a debugger reads (ctypes finds the
# functions in the dynamic symbols, which stay).
COPY --from=requirements /src/landmarker.txt ./
RUN pip --python /opt/venv/bin/python install -r landmarker.txt \
    && find /opt/venv -depth -type d -name tests -exec rm -rf {} + \
    && find /opt/venv -name libmediapipe.so -exec strip --strip-unneeded {} +

# MediaPipe's libmediapipe.so links libEGL.so.1 and libGLESv2.so.2, and
# OpenCV's bundled Qt links libGL.so.1, so `import` needs them; the CPU path
# never calls them. libglvnd's dispatch libraries are enough: libgl1, libglx0
# and libegl1 are unpacked here, without the Mesa drivers their packages
# depend on (LLVM among them, 350 MB).
FROM python:3.11-slim-bookworm AS gl-dispatch
WORKDIR /debs
RUN apt-get update \
    && apt-get download libgl1 libglx0 libegl1 \
    && rm -rf /var/lib/apt/lists/* \
    && for deb in *.deb; do dpkg-deb -x "$deb" /debs/root; done \
    && mkdir /out && find /debs/root -name 'lib*.so*' -exec cp -P {} /out/ \;

FROM runtime AS landmarker
COPY --from=gl-dispatch /out/ /usr/local/lib/
# glib and libX11 for OpenCV, libglvnd0 and libgles2 (no Mesa) for MediaPipe.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libglib2.0-0 libx11-6 libglvnd0 libgles2 \
    && rm -rf /var/lib/apt/lists/* \
    && ldconfig
COPY --from=landmarker-deps /opt/venv /opt/venv
COPY --from=app /opt/app /opt/app
# MediaPipe imports matplotlib, which wants a writable config folder.
ENV LIVE2D_POSE_INGEST=tcp://ingest:5555 \
    LIVE2D_POSE_HEALTH_FILE=/tmp/worker.health \
    MPLCONFIGDIR=/tmp/matplotlib
USER 10001:10001
# The worker touches its health file on every heartbeat exchanged with ingest.
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
    CMD ["live2d-pose", "health", "--service", "landmarker"]
CMD ["landmarker"]
