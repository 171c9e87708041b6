#!/usr/bin/env python3
"""Lists the GPU code embedded in a shared library's .nv_fatbin section: one line per entry, SASS
(ELF cubin) or PTX, and its architecture. For machines without cuobjdump (the CI machines have nvcc
but not the CUDA binary utilities).

Usage: benchmarks/gpu/fatbin_archs.py path/to/libfuselm.so [--expect sm_80:sass,sm_90:sass,sm_90:ptx]
Exit status 1 when an --expect entry is missing.

The fatbin layout (not formally documented; stable since CUDA 7): a section of concatenated fat
binaries, each a 16-byte header (magic 0xBA55ED50, version u16, header size u16, payload size u64)
followed by entries whose header starts: kind u16 (1 = PTX, 2 = ELF), version u16, header size u32,
padded payload size u64, ..., and at offset 28 the SM version u32 (80 = sm_80).
"""
import struct
import subprocess
import sys


def section(path, name):
    out = subprocess.run(["readelf", "-W", "-S", path], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.replace("[ ", "[").split()
        if name in parts:
            i = parts.index(name)
            offset, size = int(parts[i + 3], 16), int(parts[i + 4], 16)
            with open(path, "rb") as f:
                f.seek(offset)
                return f.read(size)
    return b""


def entries(data):
    pos = 0
    while pos + 16 <= len(data):
        magic, _version, hsize, fsize = struct.unpack_from("<IHHQ", data, pos)
        if magic != 0xBA55ED50:
            pos += 8  # fat binaries are 8-byte aligned in the section
            continue
        e = pos + hsize
        end = e + fsize
        while e + 36 <= end:
            kind, _ver, ehsize, padded = struct.unpack_from("<HHIQ", data, e)
            sm = struct.unpack_from("<I", data, e + 28)[0]
            yield ("ptx" if kind == 1 else "sass" if kind == 2 else "kind%d" % kind), sm
            if ehsize == 0:
                break
            e += ehsize + padded
        pos = end


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    data = section(sys.argv[1], ".nv_fatbin")
    if not data:
        print("no .nv_fatbin section in %s" % sys.argv[1])
        return 1
    found = {}
    for kind, sm in entries(data):
        key = "sm_%d:%s" % (sm, kind)
        found[key] = found.get(key, 0) + 1
    for key in sorted(found):
        print("%-14s %d entries" % (key, found[key]))
    if len(sys.argv) > 3 and sys.argv[2] == "--expect":
        missing = [k for k in sys.argv[3].split(",") if k not in found]
        if missing:
            print("missing: " + ", ".join(missing))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
