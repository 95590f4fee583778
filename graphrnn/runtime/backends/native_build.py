"""Building the native backend's extension modules: the compiler and Python's headers
found, the SIMD flags probed, and C++ text compiled once per machine into a disk cache
(:func:`cache_folder`) that later processes import from, named by a digest of the text,
flags, compiler, Python ABI and CPU (the modules are built with ``-march=native``)."""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
from typing import List, Optional

__all__ = ["find_cxx", "python_include", "missing", "vector_flags", "compile_module",
           "module_name", "cache_folder", "VECTOR_MATH"]

_MODULES = {}  # module name -> the module, loaded in this process
_LOCK = threading.Lock()
_FOLDER: List[str] = []  # the process's own temporary folder, made on first use
_CACHE: List[str] = []  # the folder built modules are kept in (cache_folder)
_IDENTITY: List[str] = []  # the compiler, ABI and CPU (_build_identity)
#: every module's flags before its own and the SIMD ones: -fno-trapping-math: no FP
#: exception flags are read, so a select such as sigmoid's clamp may run in SIMD lanes
#: (results, NaN and infinities included, are the same)
_BASE_FLAGS = ["-O2", "-shared", "-fPIC", "-std=c++14", "-fno-math-errno",
               "-fno-trapping-math"]


def find_cxx() -> Optional[str]:
    """The C++ compiler: ``$CXX`` when set, else ``c++``, ``g++`` or ``clang++`` on PATH."""
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name:
            path = shutil.which(name)
            if path:
                return path
    return None


def python_include() -> Optional[str]:
    """The folder holding ``Python.h`` (None when Python's headers are not installed)."""
    folder = sysconfig.get_paths().get("include")
    return folder if folder and os.path.exists(os.path.join(folder, "Python.h")) else None


def missing() -> Optional[str]:
    """What the native backend lacks on this machine, in words; None when it can build."""
    lacks = []
    if find_cxx() is None:
        lacks.append("a C++ compiler (c++, g++ or clang++ on PATH, or $CXX)")
    if python_include() is None:
        lacks.append(f"Python's headers (no Python.h in {sysconfig.get_paths().get('include')}; "
                     f"install the python3-dev package or equivalent)")
    return " and ".join(lacks) or None


#: the C library's vector math (glibc's libmvec): declared SIMD-callable, the loops above
#: call 4 or 8 lanes of exp, log, log1p, expm1 or tanh at once (within a few ulp, as the
#: scalar functions) instead of one element at a time
VECTOR_MATH = "#include <cmath>\n#ifdef GRNN_VECTOR_MATH\nextern \"C\" {\n" + "".join(
    f"#pragma omp declare simd notinbranch\n{t} {f}{suffix}({t}) noexcept;\n"
    for f in ("exp", "log", "log1p", "expm1", "tanh")
    for t, suffix in (("float", "f"), ("double", ""))) + "}\n#endif\n"

#: compiler flags, most capable first: SIMD loops with the vector math library, SIMD loops
#: alone, plain (:func:`vector_flags` keeps the first that builds here)
_FLAG_SETS = ((["-fopenmp-simd", "-march=native", "-DGRNN_VECTOR_MATH"], ["-lmvec"]),
              (["-fopenmp-simd", "-march=native"], []), ([], []))
_FLAGS: List[tuple] = []


def vector_flags() -> tuple:
    """``(compile flags, link flags)`` for the kernels: the first of :data:`_FLAG_SETS` that
    builds a probe using the vector math on this machine (found once per process)."""
    if not _FLAGS:
        probe = (VECTOR_MATH + "extern \"C\" void grnn_probe(const float *x, float *y, "
                 "long n) {\n#pragma omp simd\n    for (long i = 0; i < n; ++i) "
                 "y[i] = std::tanh(x[i]) * std::exp(x[i]);\n}\n")
        folder = _folder()
        src, out = os.path.join(folder, "probe.cpp"), os.path.join(folder, "probe.so")
        with open(src, "w") as f:
            f.write(probe)
        for compile_flags, link_flags in _FLAG_SETS:
            cmd = [find_cxx(), "-O2", "-shared", "-fPIC", "-std=c++14", *compile_flags,
                   "-o", out, src, *link_flags]
            if subprocess.run(cmd, capture_output=True).returncode == 0:
                _FLAGS.append((compile_flags, link_flags))
                break
        else:
            _FLAGS.append(([], []))
    return _FLAGS[0]


def _folder() -> str:
    if not _FOLDER:
        _FOLDER.append(tempfile.mkdtemp(prefix="graphrnn-native-"))
    return _FOLDER[0]


def compile_module(text_of, stem: str, flags=()):
    """The extension module whose C++ text ``text_of(module_name)`` gives: imported from the
    disk cache (:func:`cache_folder`) when this machine built it before, else compiled
    there; once per process either way.  ``stem`` and a digest of the text, ``flags``, the
    compiler, Python's ABI and the CPU name it.

    Flags: :data:`_BASE_FLAGS`, then ``flags``, then the SIMD flags :func:`vector_flags`
    found."""
    lacking = missing()
    if lacking:
        raise RuntimeError(f"the native backend needs {lacking}")
    module = module_name(text_of, stem, flags)
    with _LOCK:
        found = _MODULES.get(module)
        if found is None:
            folder = cache_folder()
            out = os.path.join(folder, module + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))
            found = _import(module, out) if os.path.exists(out) else None
            if found is None:
                _compile(text_of(module), module, folder, out, flags)
                found = _import(module, out)
                if found is None:
                    raise RuntimeError(f"the native module {out} was built but does not import")
            _MODULES[module] = found
        return found


def module_name(text_of, stem: str, flags=()) -> str:
    """``stem`` and a digest of the module's text, every flag it may be built with, the
    compiler, Python's ABI and the CPU: the name it is built, cached and imported under."""
    digest = hashlib.sha256("\0".join(
        [stem, text_of(stem), " ".join(_BASE_FLAGS + list(flags)), repr(_FLAG_SETS),
         _build_identity()]).encode()).hexdigest()[:20]
    return f"{stem}_{digest}"


def _compile(text: str, module: str, folder: str, out: str, flags) -> None:
    """Compile ``text`` into ``out``, written under a temporary name and renamed (another
    process reading the cache never finds half a file)."""
    src = os.path.join(folder, f"{module}.{os.getpid()}.cpp")
    tmp = out + f".{os.getpid()}.tmp"
    with open(src, "w") as f:
        f.write(text)
    compile_flags, link_flags = vector_flags()
    cmd = [find_cxx(), *_BASE_FLAGS, *flags, *compile_flags, "-I", python_include(), "-o", tmp,
           src, *link_flags]
    if sys.platform == "darwin":
        cmd[1:1] = ["-undefined", "dynamic_lookup"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise RuntimeError(f"{os.path.basename(cmd[0])} failed on the native module "
                           f"({src}):\n{done.stderr[-4000:]}")
    os.replace(tmp, out)
    os.remove(src)


def _import(module: str, path: str):
    """The extension module at ``path``, or None when it does not load (a file cut short,
    or built for something else: it is rebuilt and renamed over it)."""
    try:
        loader = importlib.machinery.ExtensionFileLoader(module, path)
        spec = importlib.util.spec_from_file_location(module, path, loader=loader)
        found = importlib.util.module_from_spec(spec)
        loader.exec_module(found)
        return found
    except ImportError:
        return None


def cache_folder() -> str:
    """Where built modules are kept across processes: ``$GRAPHRNN_CACHE`` when set, else
    ``graphrnn/native`` in ``$XDG_CACHE_HOME`` (``~/.cache``); a folder of this process's
    own in the temporary directory when that one cannot be made or written, or is not the
    user's alone (someone else's or writable by others: code is imported from it)."""
    if not _CACHE:
        root = os.environ.get("GRAPHRNN_CACHE") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
            "graphrnn", "native")
        try:
            os.makedirs(root, mode=0o700, exist_ok=True)
            if not _private(root):
                raise OSError(f"{root} is not the user's own, writable folder")
        except OSError:
            root = _folder()
        _CACHE.append(root)
    return _CACHE[0]


def _private(folder: str) -> bool:
    """Writable by this user, owned by them and not writable by others (where there are
    owners)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    if not hasattr(os, "getuid"):
        return True
    st = os.stat(folder)
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def _build_identity() -> str:
    """What a cached module's machine code depends on besides its source: the compiler (its
    path, size and time: an upgrade changes them), Python's ABI, and the CPU (the modules
    are built with ``-march=native``: a cache shared by other machines must not mix)."""
    if not _IDENTITY:
        cxx = find_cxx() or ""
        try:
            st = os.stat(cxx)
            cxx += f" {st.st_size} {st.st_mtime_ns}"
        except OSError:
            pass
        cpu = platform.machine() + " " + platform.processor()
        try:
            with open("/proc/cpuinfo") as f:
                cpu += "".join(sorted({line for line in f
                                       if line.startswith(("model name", "flags", "Features"))}))
        except OSError:
            pass
        _IDENTITY.append("\0".join([cxx, sysconfig.get_config_var("EXT_SUFFIX") or "",
                                    sys.version, cpu]))
    return _IDENTITY[0]
