import sys

from live2d_pose.cli import main

sys.exit(main())
