"""File > Export: the dataset as it is now (saved or not), in the format another tool
reads. The formats are the registry's writers (model/formats/registry.py); the writing is
model.formats.export's, the same as `main.py export`."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (QApplication, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox,
                               QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QWidget)

from model.formats import registry
from model.formats.export import export
from model.formats.writer_reports import DEFAULT_TOLERANCE
from model.text import shown_warnings

from ..document.document import Document
from ..document.session import Session
from ..notify import Notifier

MAX_WARNINGS = 20  # shown in the report; the rest are counted


class ExportDialog(QDialog):
    """Format, tolerance and destination; nothing is written until OK."""

    def __init__(self, default_folder: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.setObjectName("exportDialog")
        self.default_folder = default_folder
        self.format = QComboBox(objectName="exportFormat")
        for fmt in registry.writers():
            self.format.addItem(fmt.name, fmt.name)
            self.format.setItemData(self.format.count() - 1, fmt.description, Qt.ToolTipRole)
        self.about = QLabel(wordWrap=True)
        self.tolerance = QDoubleSpinBox(objectName="exportTolerance", decimals=2, minimum=0.0,
                                        maximum=20.0, singleStep=0.25, value=DEFAULT_TOLERANCE,
                                        suffix=" px")
        self.path = QLineEdit(objectName="exportPath")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        form = QFormLayout(self)
        form.addRow("Format", self.format)
        form.addRow("", self.about)
        form.addRow("Polygon tolerance", self.tolerance)
        form.addRow("Write to", row)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.format.currentIndexChanged.connect(self._format_changed)
        self._format_changed()

    def chosen(self) -> tuple[str, Path, float]:
        return self.format.currentData(), Path(self.path.text()).expanduser(), \
            self.tolerance.value()

    def _format_changed(self) -> None:
        fmt = registry.get(self.format.currentData())
        self.about.setText(fmt.description)
        self.tolerance.setEnabled(fmt.polygons)
        name = (f"export-{fmt.name}" if fmt.kind == registry.FOLDER
                else f"annotations-{fmt.name}{fmt.suffix}")
        self.path.setText(str(self.default_folder / name))

    def _browse(self) -> None:
        fmt = registry.get(self.format.currentData())
        if fmt.kind == registry.FOLDER:
            got = QFileDialog.getExistingDirectory(self, f"Export {fmt.name} to folder",
                                                   str(self.default_folder))
        else:
            got, _ = QFileDialog.getSaveFileName(
                self, f"Export {fmt.title} file", self.path.text(),
                f"{fmt.title} (*{fmt.suffix})" if fmt.suffix else "")
        if got:
            self.path.setText(got)


class ExportController(QObject):
    message = Signal(str, int)
    exported = Signal(str)  # the report, one line per row

    def __init__(self, doc: Document, session: Session, notifier: Notifier,
                 dialog_parent: QWidget):
        super().__init__()
        self.doc, self.session, self.notifier, self.dialog_parent = doc, session, notifier, dialog_parent

    def ask_and_export(self) -> None:
        if self.doc.dataset is None or not self.doc.dataset.images:
            self.notifier.info("Export", "Open a dataset first.")
            return
        dialog = ExportDialog(self.session.default_save_path().parent, self.dialog_parent)
        if dialog.exec() == QDialog.Accepted:
            self.export_to(*dialog.chosen())

    def export_to(self, fmt: str, out: Path, tolerance: float = DEFAULT_TOLERANCE) -> bool:
        """Write what the document holds now, as `main.py export` does (a folder whole,
        only inside `out`, never over files MaskLoop did not write). It runs on the UI
        thread, so nothing can change the dataset while it is read (a busy cursor says so)."""
        QApplication.setOverrideCursor(Qt.WaitCursor)
        try:
            writer = registry.writer(fmt)
            if writer.kind == registry.FOLDER and out.exists() and not out.is_dir():
                raise ValueError(f"{out} is a file; {fmt} is written to a folder")
            if writer.kind == registry.FILE and out.is_dir():
                raise ValueError(f"{out} is a folder; give a file name"
                                 + (f" ending {writer.suffix}" if writer.suffix else ""))
            result = export(self.doc.dataset, out, fmt, tolerance)
        except (OSError, ValueError, RuntimeError) as e:  # CocoFormatError, FormatError and
            QApplication.restoreOverrideCursor()          # UsageError are ValueErrors
            self.notifier.error("Export failed", f"{out}: {e}")
            return False
        QApplication.restoreOverrideCursor()
        report = "\n".join(result.lines + [f"warning: {w}" for w in
                                            shown_warnings(result.warnings, MAX_WARNINGS)])
        if result.failed:
            self.notifier.error("Export", report)
        else:
            self.message.emit(result.lines[0], 10_000)
            self.exported.emit(report)
        return not result.failed
