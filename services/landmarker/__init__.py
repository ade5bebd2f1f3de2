"""A landmarker: one MediaPipe worker process (start.py, then worker.py), and the bundled models."""
