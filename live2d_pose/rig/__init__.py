"""Server-side rig: tracking results -> avatar channels, smoothed like the viewer's (filter.py)."""
