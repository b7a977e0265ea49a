"""Guard against PySide6 builds that drop references to None/True/False.

PySide6-Essentials 6.12.0 on Python 3.11 lost one reference to None on every void Qt call
(measured: 1000 x QWidget.setToolTip -> refcount(None) - 999), so a long session aborted with
"Fatal Python error: none_dealloc". pyproject.toml excludes that release; this test fails if a
leaking build is installed again.
"""

import sys

import pytest

CALLS = 500


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None/True/False are immortal on 3.12+")
def test_void_qt_calls_keep_none_references(qapp):
    from PySide6.QtWidgets import QWidget

    w = QWidget()
    before = sys.getrefcount(None)
    for _ in range(CALLS):
        w.setToolTip("x")
    assert sys.getrefcount(None) - before > -CALLS // 2, "this PySide6 build leaks None refs"


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None/True/False are immortal on 3.12+")
def test_bool_returning_qt_calls_keep_bool_references(qapp):
    from PySide6.QtWidgets import QWidget

    w = QWidget()
    before = sys.getrefcount(False), sys.getrefcount(True)
    for _ in range(CALLS):
        w.isVisible()
        w.isEnabled()
    after = sys.getrefcount(False), sys.getrefcount(True)
    assert after[0] - before[0] > -CALLS // 2 and after[1] - before[1] > -CALLS // 2
