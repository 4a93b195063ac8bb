from realtime.server.cli import main

main()
