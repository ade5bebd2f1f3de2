"""Ingest: cameras in over WebSocket, frames out to the landmarker pool (server.py joins cameras.py and broker.py)."""
