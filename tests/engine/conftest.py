"""Engine tests run without Qt, a GPU or a network."""

import sys


def pytest_collection_finish(session):
    # If collecting engine tests imported Qt, the engine crossed its boundary.
    leaked = [m for m in ("PySide6", "pyqtgraph") if m in sys.modules]
    only_engine = all("tests/engine" in str(item.fspath) for item in session.items)
    if leaked and only_engine:
        raise RuntimeError(f"engine tests imported {leaked}: engine must never import Qt")
