"""live2d-pose: what the services and clients share (README.md in this folder lists it).

The services themselves live in services/<name>/ and install as live2d_pose.ingest,
live2d_pose.landmarker and live2d_pose.gateway; nothing here imports them but the test
harness (testing/inprocess.py runs ingest and the gateway in one process).
"""
