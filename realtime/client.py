"""`python -m realtime.client`: the command users and scripts know. The
client itself is realtime/samples/client.py (also runnable as
`python -m realtime.samples.client`). Imports no Django."""

import sys

from realtime.samples.client import main

if __name__ == "__main__":
    sys.exit(main())
