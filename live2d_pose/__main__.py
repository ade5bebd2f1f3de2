import sys

try:
    from live2d_pose.cli import main
except KeyboardInterrupt:  # Ctrl-C in the first milliseconds: stop as quietly as main() does
    sys.exit(130)

sys.exit(main())
