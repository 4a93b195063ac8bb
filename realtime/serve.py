"""`python -m realtime.serve`: the name this server had first, kept for
scripts and habits that use it; the same as `python -m realtime.server`."""

from realtime.server.cli import main

if __name__ == "__main__":
    main()
