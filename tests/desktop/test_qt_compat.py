"""The PySide6 None-refcount workaround (desktop/qt_compat.py) is in force, and the bug it
guards against is still there (when this starts failing, PySide6 is fixed: drop the hack)."""

import sys

import pytest

import desktop  # noqa: F401 - importing the package applies the workaround


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal on Python 3.12+")
def test_none_true_false_cannot_reach_zero_refs(qapp):
    for singleton in (None, True, False):
        assert sys.getrefcount(singleton) > 1 << 39


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal on Python 3.12+")
def test_void_qt_calls_still_leak_none_refs(qapp):
    from PySide6.QtWidgets import QWidget

    w = QWidget()
    before = sys.getrefcount(None)
    for _ in range(50):
        w.setToolTip("x")
    assert sys.getrefcount(None) < before, "PySide6 fixed the None leak: remove desktop/qt_compat.py"
