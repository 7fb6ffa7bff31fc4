"""Markdown study reports: a headline table, tables and figures inline, and their provenance.

A report names the configuration (embedded as TOML), the seed, the rramsim version and the
command that made it, so the same command can make the same numbers again. It is written
atomically. Nothing in it depends on the clock or the machine unless a caller adds timings
explicitly (they are kept in a separate, clearly labelled section).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rramsim.studies._io import atomic_write_text


def fmt_number(x, digits: int = 4) -> str:
    """A number for a table: integers as they are, floats with ``digits`` significant digits."""
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    if f != f:
        return "n/a"
    if f == 0:
        return "0"
    return f"{f:.{digits}g}"


def _cell(text: str) -> str:
    """A table cell: pipes escaped (``|x|`` would end the cell), no line breaks."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(header, rows) -> str:
    """A GitHub-flavoured markdown table from a header and rows of cells (numbers formatted)."""
    head = "| " + " | ".join(_cell(h) for h in header) + " |"
    sep = "| " + " | ".join("---" for _ in header) + " |"
    body = ["| " + " | ".join(_cell(fmt_number(c)) for c in r) + " |" for r in rows]
    return "\n".join([head, sep, *body])


def frame_table(frame, digits: int = 4) -> str:
    """A pandas DataFrame as a markdown table."""
    rows = [[fmt_number(v, digits) for v in rec] for rec in frame.itertuples(index=False)]
    return markdown_table(list(frame.columns), rows)


@dataclass
class Report:
    """A study report under construction.

    Attributes
    ----------
    title : str
        First heading.
    provenance : dict
        Names and values shown under the title (command, seed, version, configuration file).
    config_toml : str
        The configuration that made it, embedded verbatim at the end.
    """

    title: str
    provenance: dict = field(default_factory=dict)
    config_toml: str = ""
    _parts: list[str] = field(default_factory=list)

    def headline(self, rows: list[tuple[str, str]]) -> None:
        """The headline table: (quantity, value) pairs, right under the provenance."""
        self._parts.insert(0, "## Headline\n\n" + markdown_table(["quantity", "value"], rows))

    def section(self, heading: str, text: str = "") -> None:
        """A new ``##`` section with optional paragraph text."""
        self._parts.append(f"## {heading}\n\n{text}".rstrip())

    def text(self, text: str) -> None:
        """A paragraph in the current section."""
        self._parts.append(text)

    def table(self, frame_or_header, rows=None) -> None:
        """A table: a DataFrame, or a header and rows."""
        if rows is None:
            self._parts.append(frame_table(frame_or_header))
        else:
            self._parts.append(markdown_table(frame_or_header, rows))

    def image(self, relpath: str, caption: str) -> None:
        """An inline figure (path relative to the report)."""
        self._parts.append(f"![{caption}]({relpath})\n\n*{caption}*")

    def render(self) -> str:
        """The report as markdown text."""
        prov = "\n".join(f"- **{k}**: {v}" for k, v in self.provenance.items())
        out = [f"# {self.title}", prov, *self._parts]
        if self.config_toml:
            out.append("## Configuration\n\n```toml\n" + self.config_toml.rstrip() + "\n```")
        return "\n\n".join(p for p in out if p) + "\n"

    def write(self, path: str | Path) -> Path:
        """Write the report atomically."""
        return atomic_write_text(path, self.render())
