"""Engine tests run without Qt, a GPU or a network.

(pytest-qt imports PySide6 when pytest starts, so "no Qt in this process" cannot be checked
here; tests/engine/test_boundary.py imports every engine module in a clean subprocess instead.)
"""
