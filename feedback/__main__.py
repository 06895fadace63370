from feedback.cli import main

raise SystemExit(main())
