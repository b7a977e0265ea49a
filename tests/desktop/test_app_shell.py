"""The app opens without any models installed and quits cleanly."""

from desktop.main_window import MainWindow


def test_main_window_opens_with_menus_and_closes(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    titles = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert titles[:5] == ["File", "Edit", "View", "Generate", "Help"]
    assert window.statusBar().isVisible()
    assert window.close()
