"""The main window: menus, the arrangement area and the status bar."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMenu, QMessageBox

import engine


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Untitled — Legato")
        self.resize(1280, 800)
        self._timeline_placeholder = QLabel("Empty project — import audio or generate a song to begin.")
        self._timeline_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._timeline_placeholder.setObjectName("timelineArea")
        self.setCentralWidget(self._timeline_placeholder)
        self._build_menus()
        self.statusBar().showMessage("Ready")

    def _build_menus(self) -> None:
        bar = self.menuBar()
        self.file_menu: QMenu = bar.addMenu("&File")
        self.edit_menu: QMenu = bar.addMenu("&Edit")
        self.view_menu: QMenu = bar.addMenu("&View")
        self.generate_menu: QMenu = bar.addMenu("&Generate")
        self.help_menu: QMenu = bar.addMenu("&Help")

        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        self.quit_action.triggered.connect(self.close)
        self.file_menu.addAction(self.quit_action)

        about = QAction("&About Legato", self)
        about.triggered.connect(self._show_about)
        self.help_menu.addAction(about)

    def _show_about(self) -> None:
        QMessageBox.about(
            self,
            "About Legato",
            f"Legato {engine.__version__}\nA music workstation around ACE-Step 1.5, running locally.",
        )
