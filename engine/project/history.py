"""The project's undo history: push / undo / redo, merging, groups and a clean index.

Every change to a Project is a command pushed here (Orange's QUndoStack use, Tracktion's
Edit-owned UndoManager), so the desktop, scripts and finished generation jobs share one path.

    project.history.push(SetTrackGain(track_id, -6.0, merge_id=f"gain:{track_id}:{press}"))
    with project.history.group("Move 3 clips"):   # one undo step, pushed on mouse release
        for clip_id, pos in moved.items():
            project.history.push(MoveClip(clip_id, pos))

Merging: a pushed command whose `merge_id` equals the top command's (and whose type matches)
folds into it, so a slider drag is one undo step. Use an id that is unique per gesture (or call
`seal()` on release) so two separate drags stay two steps. Nothing merges across a clean mark.

Events: `changed()` after every push, undo, redo, clean-state change or clear. Thread: main;
pushing from another thread raises RuntimeError (post results to the main thread first).

Public API (stable): History(project) with push, undo, redo, group(text), seal, clear,
mark_clean, mark_unsaved, is_clean, can_undo, can_redo, undo_text, redo_text, index, count, revision, changed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from engine.project.commands import Command, Group
from engine.project.signals import Signal

if TYPE_CHECKING:
    from engine.project.model import Project

MAX_UNDO_STEPS = 1000


class History:
    def __init__(self, project: Project) -> None:
        self._project = project
        self._stack: list[Command] = []
        self._index = 0  # commands [0, index) are done
        self._clean_index: int | None = 0
        self._sealed = False
        self._group_stack: list[Group] = []
        self._thread = threading.get_ident()
        self.revision = 0  # bumps on every change of the document (autosave watches it)
        self.changed = Signal("History.changed")

    # -- state
    @property
    def index(self) -> int:
        return self._index

    @property
    def count(self) -> int:
        return len(self._stack)

    @property
    def can_undo(self) -> bool:
        return self._index > 0 and not self._group_stack

    @property
    def can_redo(self) -> bool:
        return self._index < len(self._stack) and not self._group_stack

    @property
    def undo_text(self) -> str:
        return self._stack[self._index - 1].text if self._index > 0 else ""

    @property
    def redo_text(self) -> str:
        return self._stack[self._index].text if self._index < len(self._stack) else ""

    @property
    def is_clean(self) -> bool:
        """True when the document equals what was last saved (drives the title's '*')."""
        return self._clean_index == self._index

    def mark_clean(self) -> None:
        self._clean_index = self._index
        self._sealed = True
        self.changed.emit()

    def mark_unsaved(self) -> None:
        """No state is the saved one (e.g. a project restored from an autosave)."""
        self._clean_index = None
        self.changed.emit()

    # -- editing
    def push(self, command: Command) -> Command:
        """Apply `command` (its redo) and record it. Returns the command (its ids are set).

        Raises:
            ValidationError / KeyError: the command could not apply; nothing was recorded and
                the document is unchanged.
        """
        self._check_thread()
        command.redo(self._project)
        self.revision += 1
        if self._group_stack:
            self._group_stack[-1].children.append(command)
            return command
        if self._try_merge(command):
            self.changed.emit()
            return command
        del self._stack[self._index :]
        if self._clean_index is not None and self._clean_index > self._index:
            self._clean_index = None  # the saved state can no longer be reached
        self._stack.append(command)
        self._index += 1
        self._sealed = False
        if len(self._stack) > MAX_UNDO_STEPS:
            drop = len(self._stack) - MAX_UNDO_STEPS
            del self._stack[:drop]
            self._index -= drop
            if self._clean_index is not None:
                self._clean_index = self._clean_index - drop if self._clean_index >= drop else None
        self.changed.emit()
        return command

    def _try_merge(self, command: Command) -> bool:
        if self._sealed or not command.merge_id or self._index == 0 or self._index != len(self._stack):
            return False
        if self._clean_index == self._index:
            return False
        top = self._stack[self._index - 1]
        return top.merge_id == command.merge_id and type(top) is type(command) and top.merge(command)

    def seal(self) -> None:
        """Stop the next pushed command from merging into the top one (end of a gesture)."""
        self._sealed = True

    @contextmanager
    def group(self, text: str) -> Iterator[Group]:
        """Collect the commands pushed inside into one undo step named `text`.

        Nested groups fold into the outermost. If the body raises, the commands already
        applied are undone and the exception propagates; nothing is recorded.
        """
        self._check_thread()
        grp = Group(text)
        self._group_stack.append(grp)
        try:
            yield grp
        except BaseException:
            self._group_stack.pop()
            grp.undo(self._project)
            self.revision += 1
            raise
        self._group_stack.pop()
        if not grp.children:
            return
        if self._group_stack:
            self._group_stack[-1].children.append(grp)
            return
        # Already applied child by child: record without redoing.
        del self._stack[self._index :]
        if self._clean_index is not None and self._clean_index > self._index:
            self._clean_index = None
        self._stack.append(grp)
        self._index += 1
        self._sealed = True
        self.changed.emit()

    def undo(self) -> None:
        self._check_thread()
        if not self.can_undo:
            return
        self._index -= 1
        self._stack[self._index].undo(self._project)
        self.revision += 1
        self._sealed = True
        self.changed.emit()

    def redo(self) -> None:
        self._check_thread()
        if not self.can_redo:
            return
        self._stack[self._index].redo(self._project)
        self._index += 1
        self.revision += 1
        self._sealed = True
        self.changed.emit()

    def clear(self) -> None:
        """Forget all steps (e.g. after loading); the current state counts as clean."""
        self._stack.clear()
        self._index = 0
        self._clean_index = 0
        self.changed.emit()

    def _check_thread(self) -> None:
        if threading.get_ident() != self._thread:
            raise RuntimeError(
                "the project may only be edited on the thread that created it (the main thread)"
            )
