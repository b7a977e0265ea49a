"""QApplication bootstrap: settings identity, excepthook, the main window."""

from __future__ import annotations

import sys
import traceback


def create_application(argv: list[str] | None = None):
    """Create (or reuse) the QApplication with Legato's identity."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["legato", *(argv or [])])
    app.setApplicationName("Legato")
    app.setOrganizationName("Legato")
    app.setApplicationDisplayName("Legato")
    return app


def _install_excepthook() -> None:
    """Show unexpected errors in a dialog instead of dying silently with the project unsaved."""
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication, QMessageBox

    def hook(exc_type, exc, tb):
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        print(text, file=sys.stderr)
        if QApplication.instance() is not None:
            QMessageBox.critical(None, QCoreApplication.translate("App", "Legato: unexpected error"),
                                 QCoreApplication.translate("App", "{0}: {1}").format(exc_type.__name__, exc))

    sys.excepthook = hook


def run_app(argv: list[str]) -> int:
    from engine.quiet_imports import quiet_third_party_imports

    quiet_third_party_imports()
    app = create_application(argv)
    _install_excepthook()
    from desktop.main_window import MainWindow

    window = MainWindow()
    window.show()
    # `legato --open Song.legato` (the launcher passes what follows --open).
    paths = [a for a in argv if not a.startswith("-")]
    if paths:
        window.documents.open_project(paths[0])
    return app.exec()
