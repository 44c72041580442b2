from __future__ import annotations

from glpsearch.cli import main

raise SystemExit(main())
