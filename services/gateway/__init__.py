"""The gateway: the one rig per watched stream, and the viewers, outputs and takes it serves (server.py)."""
