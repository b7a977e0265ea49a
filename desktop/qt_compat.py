"""Work around a PySide6 6.12 reference-count bug on Python < 3.12.

Every call from Python to a Qt method that returns void hands back `None` without taking a
reference, so each call lowers None's refcount by one (measured: `QWidget.setToolTip` x20
-> refcount(None) - 20). A Qt app makes millions of such calls (every QPainter.drawLine in a
paint event), and when the count reaches zero the interpreter aborts with "Fatal Python error:
none_dealloc: deallocating None". Python 3.12 made None immortal, so there it is harmless.

The fix mirrors 3.12: give None a huge refcount once at import, so it can never reach zero.
Remove this when PySide6 is fixed (re-run the measurement in tests/desktop/test_qt_compat.py).
"""

from __future__ import annotations

import ctypes
import sys

_HEADROOM = 1 << 40  # ~10^12 void calls before any risk


def protect_none() -> None:
    """Make None, True and False effectively immortal, as Python 3.12 does."""
    if sys.version_info >= (3, 12):
        return
    # CPython < 3.12: ob_refcnt is the first Py_ssize_t of every object. True/False get the
    # same protection: the full desktop suite also aborted with "bool_dealloc" at exit (the
    # call that leaks bool references is not pinned down; toggled(bool) and isChecked() don't).
    for singleton in (None, True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value += _HEADROOM
