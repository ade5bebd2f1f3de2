"""The benchmarks (README.md in this folder lists them), installed as live2d_pose.bench."""
