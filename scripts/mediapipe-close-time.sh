#!/bin/sh
# How long closing a MediaPipe task takes where DNS hangs (a resolver that never answers, like
# Docker's internal DNS on a network with no route out), with MediaPipe's usage metrics off
# (live2d-pose's default) and allowed (LIVE2D_POSE_MEDIAPIPE_METRICS=1). docs/security.md,
# "Privacy", has the figures.
#
#   sudo scripts/mediapipe-close-time.sh [CLOSES]      (from the repository, after make setup)
#
# Needs root: the probe runs in mount and network namespaces of its own (unshare), whose
# /etc/resolv.conf names a resolver on 127.0.0.1 that reads queries and never answers; nothing
# else on the machine sees it.
set -eu
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
closes=${1:-3}

if [ "${MEDIAPIPE_CLOSE_INSIDE:-}" != 1 ]; then
    export MEDIAPIPE_CLOSE_INSIDE=1
    exec unshare --mount --net --propagation private "$0" "$@"
fi

ip link set lo up
resolv=$(mktemp)
echo "nameserver 127.0.0.1" > "$resolv"
mount --bind "$resolv" /etc/resolv.conf
"$python" -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
while True:
    s.recvfrom(4096)  # never answered
' &
resolver=$!
trap 'kill $resolver; rm -f "$resolv"' EXIT
sleep 0.3

for allowed in 0 1; do
    LIVE2D_POSE_MEDIAPIPE_METRICS=$allowed GLOG_minloglevel=2 "$python" - "$closes" <<'EOF'
import sys, time
import numpy as np
from live2d_pose import config as cfg
from live2d_pose.landmarker import mediapipe_metrics

settings = cfg.from_sources(cfg.LandmarkerConfig)
mediapipe_metrics.configure(settings.mediapipe_metrics)  # before MediaPipe loads, as the landmarker does
import mediapipe as mp
from live2d_pose.landmarker import trackers

face = trackers.build(("face",), settings)["face"]
image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.zeros((240, 320, 3), np.uint8))
times = []
for _ in range(int(sys.argv[1])):
    task = face.open()
    face.detect(task, image, 1)
    started = time.perf_counter()
    face.close(task)
    times.append((time.perf_counter() - started) * 1000)
state = "allowed" if settings.mediapipe_metrics else "off (default)"
print(f"metrics {state}: close " + ", ".join(f"{t:.0f}" for t in times) + " ms")
EOF
done
