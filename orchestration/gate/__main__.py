"""`python -m orchestration.gate write-suites`: regenerate expectations/<file_type>.json."""

import sys

from orchestration.causes import EXIT_USAGE
from orchestration.gate.suites import write_suites

if sys.argv[1:] == ["write-suites"]:
    for path in write_suites():
        print(path)
else:
    print("usage: python -m orchestration.gate write-suites", file=sys.stderr)
    sys.exit(EXIT_USAGE)
