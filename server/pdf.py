"""Printable PDF documents (fpdf2): a title, headings, paragraphs, key-value and column
tables, and monospaced blocks, with page numbers and the generation time on every page.

Text is set in DejaVu Sans when the system has it (every Unicode character a label may
carry); otherwise in the PDF core font Helvetica, which covers Latin-1 only, and any other
character is printed as '?' (the document says so on its first page). The JSON forms stay
the verifiable ones; a PDF is for reading and signing on paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

__all__ = ["PdfDocument"]

_FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"),
              Path("/usr/local/share/fonts"))


def _dejavu() -> tuple[Path, Path, Path] | None:
    for folder in _FONT_DIRS:
        files = (folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf",
                 folder / "DejaVuSansMono.ttf")
        if all(f.is_file() for f in files):
            return files
    return None


class PdfDocument:
    """One document, written top to bottom."""

    def __init__(self, title: str, subtitle: str, generated_at: str) -> None:
        pdf = FPDF(orientation="portrait", unit="mm", format="A4")
        pdf.set_auto_page_break(auto=True, margin=15)
        pdf.set_title(title)
        pdf.set_creator("tracegraph")
        fonts = _dejavu()
        self.unicode = fonts is not None
        if fonts is not None:
            pdf.add_font("body", "", str(fonts[0]))
            pdf.add_font("body", "B", str(fonts[1]))
            pdf.add_font("mono", "", str(fonts[2]))
            self._body, self._mono = "body", "mono"
        else:
            self._body, self._mono = "helvetica", "courier"
        footer_font = self._body

        def footer() -> None:
            pdf.set_y(-12)
            pdf.set_font(footer_font, size=7)
            pdf.cell(0, 5, self._text(f"{title} - generated {generated_at} - page "
                                      f"{pdf.page_no()}/{{nb}}"), align="C")

        pdf.footer = footer  # type: ignore[method-assign]
        pdf.add_page()
        self.pdf = pdf
        self.heading(title, level=1)
        self.paragraph(subtitle)
        if not self.unicode:
            self.paragraph("(This system has no Unicode font: characters outside Latin-1 are "
                           "printed as '?'. The JSON export holds them exactly.)")

    def _text(self, value: Any) -> str:
        text = "" if value is None else str(value)
        return text if self.unicode else text.encode("latin-1", "replace").decode("latin-1")

    def heading(self, text: str, level: int = 2) -> None:
        self.pdf.set_font(self._body, "B", size={1: 15, 2: 12}.get(level, 10))
        self.pdf.multi_cell(0, 7, self._text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.ln(1)

    def paragraph(self, text: str) -> None:
        self.pdf.set_font(self._body, size=9)
        self.pdf.multi_cell(0, 4.5, self._text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.ln(1)

    def mono(self, text: str) -> None:
        self.pdf.set_font(self._mono, size=7)
        self.pdf.multi_cell(0, 3.5, self._text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.ln(1)

    def fields(self, rows: Sequence[tuple[str, Any]]) -> None:
        """A two-column table of names and values."""
        self.table(["field", "value"], [[k, v] for k, v in rows], widths=(1, 3))

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]],
              widths: Sequence[int] | None = None) -> None:
        """Columns over rows; a long table continues on the next page with its header."""
        self.pdf.set_font(self._body, size=7.5)
        with self.pdf.table(col_widths=tuple(widths) if widths else None, line_height=4,
                            repeat_headings=1, text_align="LEFT") as table:
            header = table.row()
            for column in columns:
                header.cell(self._text(column))
            for values in rows:
                row = table.row()
                for value in values:
                    row.cell(self._text(value))
        self.pdf.ln(2)

    def signature_lines(self, labels: Sequence[str]) -> None:
        """Blank lines for handwritten signatures (name, signature, date)."""
        self.pdf.set_font(self._body, size=9)
        for label in labels:
            self.pdf.ln(6)
            self.pdf.cell(0, 5, self._text(f"{label}: name ____________________  signature "
                                           "____________________  date __________"),
                          new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def bytes(self) -> bytes:
        return bytes(self.pdf.output())
