"""Print the requirements in ./pyproject.toml, one a line: the package's
dependencies, then those of each extra named on the command line.

    python scripts/requirements.py landmarker > requirements.txt

The Dockerfile installs them before it copies the code, so that a code change
leaves the dependency layers cached.
"""

import sys
import tomllib

with open("pyproject.toml", "rb") as file:
    project = tomllib.load(file)["project"]
extras = project.get("optional-dependencies", {})
unknown = [name for name in sys.argv[1:] if name not in extras]
if unknown:
    sys.exit(f"no such extra in pyproject.toml: {', '.join(unknown)} (there are {', '.join(extras)})")
for requirement in project["dependencies"] + [r for name in sys.argv[1:] for r in extras[name]]:
    print(requirement)
