"""The checklist: one line per check in path order (the hop named on its first check), the
findings of a check beneath it when expanded."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.events import Resize
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from wsdoctor.reports.tui.format import finding_label, row_label
from wsdoctor.reports.tui.state import Checklist, Phase, Row, Selection

Node = TreeNode[Selection]


class CheckTree(Tree[Selection]):
    """A tree of checks and their findings; data of each node is its :class:`Selection`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right,l", "expand", "Expand", show=False),
        Binding("left,h", "collapse", "Collapse", show=False),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("checks", id=id)
        self.show_root = False
        self.guide_depth = 2
        self.checklist: Checklist | None = None
        self.failures_only = False
        self.now = 0.0
        self.frame = 0
        self._check_nodes: dict[str, Node] = {}
        self._shown_findings: dict[str, int] = {}

    def render_label(self, node: Node, base_style: Style, style: Style) -> Text:
        """Like Tree's, but keeps the columns of unexpandable checks in line."""
        label = super().render_label(node, base_style, style)
        if not node.allow_expand and node.parent is self.root:
            return Text("  ") + label
        return label

    def _label_width(self) -> int:
        return max(30, self.scrollable_content_region.width - 3)

    def _row_label(self, row: Row, show_hop: bool) -> Text:
        return row_label(
            row, show_hop=show_hop, now=self.now, frame=self.frame, width=self._label_width()
        )

    def rebuild(self, checklist: Checklist, failures_only: bool) -> None:
        """Show ``checklist`` from scratch, keeping the cursor on the same check or finding."""
        keep = self.selection
        expanded = {cid for cid, node in self._check_nodes.items() if node.is_expanded}
        self.checklist, self.failures_only = checklist, failures_only
        self.clear()
        self._check_nodes.clear()
        self._shown_findings.clear()
        for row in checklist.visible(failures_only):
            node = self.root.add(
                Text(row.id), data=Selection(row.id), expand=row.id in expanded or row.failed
            )
            self._check_nodes[row.id] = node
            self._fill(row, node)
        self.relabel()
        if keep is not None:
            self.select(keep)

    def _fill(self, row: Row, node: Node) -> None:
        node.remove_children()
        for index in range(len(row.findings)):
            node.add_leaf(finding_label(row, index), data=Selection(row.id, index))
        node.allow_expand = bool(row.findings)
        self._shown_findings[row.id] = len(row.findings)

    def relabel(self, only: set[str] | None = None) -> None:
        """Refresh the labels of the given rows (all when None): spinners, clocks, verdicts."""
        if self.checklist is None:
            return
        last_hop = None
        for row in self.checklist.visible(self.failures_only):
            show_hop, last_hop = row.hop != last_hop, row.hop
            node = self._check_nodes.get(row.id)
            if node is None or (only is not None and row.id not in only):
                continue
            if self._shown_findings.get(row.id) != len(row.findings):
                self._fill(row, node)
                if row.failed:
                    node.expand()
            node.set_label(self._row_label(row, show_hop))
            for index, leaf in enumerate(node.children):
                label = finding_label(row, index)
                label.truncate(self._label_width() - 2, overflow="ellipsis")
                leaf.set_label(label)

    def running_ids(self) -> set[str]:
        """Checks currently running (their labels tick)."""
        if self.checklist is None:
            return set()
        return {r.id for r in self.checklist.rows.values() if r.phase is Phase.RUNNING}

    @property
    def selection(self) -> Selection | None:
        """What the cursor is on."""
        node = self.cursor_node
        return node.data if node is not None else None

    def select(self, selection: Selection) -> bool:
        """Move the cursor to a check or finding (expanding its check); False if hidden."""
        node = self._check_nodes.get(selection.check_id)
        if node is None:
            return False
        if selection.finding is not None and selection.finding < len(node.children):
            node.expand()
            node = node.children[selection.finding]
        _ = self.last_line  # lay the lines out so the node knows its line
        self.move_cursor(node)
        return True

    def show_cursor_from_top(self) -> None:
        """Scroll as little as possible from the top to show the cursor, so where the cursor
        was during the run never decides what is on screen after it."""
        self.scroll_home(animate=False, immediate=True)
        if self.cursor_line >= 0:
            self.scroll_to_line(self.cursor_line, animate=False)

    def on_resize(self, event: Resize) -> None:
        """Labels are cut to the width: redo them when it changes."""
        self.relabel()

    def action_expand(self) -> None:
        """Expand the check under the cursor, or step into its first finding."""
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and not node.is_expanded:
            node.expand()
        elif node.children:
            self.action_cursor_down()

    def action_collapse(self) -> None:
        """Collapse the check under the cursor, or go from a finding to its check."""
        node = self.cursor_node
        if node is None:
            return
        if node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)
        elif node.is_expanded:
            node.collapse()
