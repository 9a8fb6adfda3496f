"""``python -m bench NAME [ARGS…]`` runs ``bench/NAME.py``'s ``main(argv)``; ``python -m bench all`` runs every one."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).resolve().parent
    return sorted(p.stem for p in here.glob("*.py") if not p.stem.startswith("_"))


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    names = available()
    if not args or args[0] in ("-h", "--help"):
        print(f"usage: python -m bench NAME [ARGS...]   (NAME: {', '.join(names)} or all)")
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name == "all":
        codes = [int(importlib.import_module(f"bench.{n}").main([]) or 0) for n in names]
        return max(codes, default=0)
    if name not in names:
        print(f"error: no benchmark {name!r}; choose one of {', '.join(names)} or all", file=sys.stderr)
        return 2
    return int(importlib.import_module(f"bench.{name}").main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
