"""Benchmark: reading one CSV cell into an attribute's typed value, by type (the import's Python pass, cell by cell).

Run with ``.venv/bin/python bench/bench_attribute_cells.py``. It needs no database: the attributes are declared in
memory, and every cell goes through ``attribute_value_parse``, the parser the import, the admin and the API share.
Each type is timed over cells like those of a real file (``--cells`` of them, best of ``--repeat`` runs) and the
table gives microseconds a cell. A million-row import with three attribute columns parses three million cells, so
1 µs a cell is 3 s of the import (docs/BENCHMARKS.md, issue 18).
"""

import argparse
import os
import sys
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CELLS = {
    "number": ["1250.50", "-12.5", "42", "0.000001", "999999999999999999.999999", "7", "310.00"],
    "date": ["1990-02-28", "2026-12-07", "2001-01-01", "1975-07-31"],
    "yes/no": ["yes", "No", "TRUE", "0", "y"],
    "one of a list": ["ring", "Necklace", "EARRINGS", "bracelet"],
    "text": ["Bath", "  Edinburgh ", "Llanfairpwllgwyngyll", "St Ives"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200_000, help="Cells parsed per type and run.")
    parser.add_argument("--repeat", type=int, default=5, help="Runs per type; the best is shown.")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newsletter.settings.local")
    import django

    django.setup()
    from subscribers.attributevalues import attribute_value_parse
    from subscribers.models import Attribute, AttributeType

    declared = {
        "number": Attribute(key="spend", label="Spend", type=AttributeType.NUMBER),
        "date": Attribute(key="birthday", label="Birthday", type=AttributeType.DATE),
        "yes/no": Attribute(key="vip", label="VIP", type=AttributeType.BOOLEAN),
        "one of a list": Attribute(
            key="last_order",
            label="Last order",
            type=AttributeType.CHOICE,
            choices=["Ring", "Necklace", "Earrings", "Bracelet"],
        ),
        "text": Attribute(key="town", label="Town", type=AttributeType.TEXT),
    }
    print(f"{'type':<14} {'µs a cell':>10}")
    for name, attribute in declared.items():
        cells = CELLS[name]
        for cell in cells:  # every cell is valid: the refused ones are not the import's common case
            attribute_value_parse(attribute, cell)
        rounds = max(1, args.cells // len(cells))
        best = min(
            timeit.repeat(
                lambda a=attribute, c=cells: [attribute_value_parse(a, cell) for cell in c],
                number=rounds,
                repeat=args.repeat,
            )
        )
        print(f"{name:<14} {best / (rounds * len(cells)) * 1e6:>10.2f}")


if __name__ == "__main__":
    main()
