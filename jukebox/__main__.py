from jukebox.cli import main

raise SystemExit(main())
