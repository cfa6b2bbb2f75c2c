"""pycrate as the independent UPER reference: compiles the same module text, converts values.

asn1tools and pycrate differ only in the Python form of BIT STRING: asn1tools uses
(left-aligned bytes, nbits), pycrate (unsigned int, nbits). Conversion is schema directed.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import tempfile
from pathlib import Path
from typing import Any

from roadedge.v2x import codec


@functools.lru_cache(maxsize=1)
def module() -> Any:
    from pycrate_asn1c.asnproc import PycrateGenerator, compile_text, generate_modules

    compile_text(codec.MODULE_FILE.read_text())
    # the generated source is only needed while it is imported: the folder goes right after
    with tempfile.TemporaryDirectory(prefix="csae_pycrate_") as folder:
        out = Path(folder) / "csae53_pycrate.py"
        generate_modules(PycrateGenerator, str(out))
        spec = importlib.util.spec_from_file_location("csae53_pycrate", out)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules["csae53_pycrate"] = mod
        spec.loader.exec_module(mod)
    return mod.CSAE53_2020


def _walk(desc: dict[str, Any], value: Any, to_pycrate: bool) -> Any:
    types = codec.parsed()
    kind = desc["type"]
    if kind in types:
        return _walk(types[kind], value, to_pycrate)
    if kind == "BIT STRING":
        if to_pycrate:
            data, n = value
            nbytes = len(data)
            return (int.from_bytes(data, "big") >> (nbytes * 8 - n) if n else 0, n)
        raw, n = value
        nbytes = (n + 7) // 8
        return ((raw << (nbytes * 8 - n)).to_bytes(nbytes, "big") if n else b"", n)
    if kind == "SEQUENCE":
        by_name = {m["name"]: m for m in desc["members"] if m is not None}
        return {k: _walk(by_name[k], v, to_pycrate) for k, v in value.items()}
    if kind == "SEQUENCE OF":
        return [_walk(desc["element"], v, to_pycrate) for v in value]
    if kind == "CHOICE":
        by_name = {m["name"]: m for m in desc["members"] if m is not None}
        name, inner = value
        return (name, _walk(by_name[name], inner, to_pycrate))
    return value


def encode(type_name: str, value: Any) -> bytes:
    obj = getattr(module(), type_name.replace("-", "_"))
    obj.set_val(_walk(codec.parsed()[type_name], value, True))
    return bytes(obj.to_uper())


def decode(type_name: str, data: bytes) -> Any:
    obj = getattr(module(), type_name.replace("-", "_"))
    obj.from_uper(data)
    return _walk(codec.parsed()[type_name], obj.get_val(), False)
