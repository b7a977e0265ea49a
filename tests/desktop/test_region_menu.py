"""The right-click region menu follows the selection: what applies is enabled, the rest says why."""

from tests.desktop.conftest import drag_lane_range, right_click_lane


def _right_click(window, at_s: float, lane: int = 0):
    menu = right_click_lane(window, at_s, lane)
    entries = {a.text().replace("&", ""): a for a in menu.actions() if not a.isSeparator()}
    menu.close()
    return entries


def _drag_range(window, a_s: float, b_s: float, lane: int = 0):
    drag_lane_range(window, lane, a_s, b_s)


def test_menu_enables_what_the_range_allows_and_explains_the_rest(two_clip_window):
    window, ids = two_clip_window  # clip A 0–4 s on lane 0, clip B 6–10 s on lane 1
    _drag_range(window, 1.0, 3.0)
    menu = _right_click(window, 2.0)
    assert menu["Repaint…"].isEnabled() and menu["Add Layer…"].isEnabled() and menu["Remix…"].isEnabled()
    assert not menu["Extend…"].isEnabled() and "past its end" in menu["Extend…"].toolTip()
    assert not menu["A/B Takes"].isEnabled() and not menu["Flatten Comp"].isEnabled()
    assert window.timeline.view.selection.length_s > 0  # right-click inside the range keeps it
    _drag_range(window, 3.0, 5.0)
    assert _right_click(window, 4.5)["Extend…"].isEnabled()
    # Right-click on the other clip, outside the range: that clip becomes the target.
    menu = _right_click(window, 8.0, lane=1)
    assert window.timeline.scene.selected_clip_ids() == [ids["B"][1]]
    assert window.timeline.view.selection is None
    assert menu["Remix…"].isEnabled() and not menu["Extend…"].isEnabled()
