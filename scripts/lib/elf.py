"""ELF headers for Python: read by scripts/sizes and scripts/lib/bench.py. Only
what they need, for 32- and 64-bit files of either byte order."""

import struct
from dataclasses import dataclass

PT_INTERP = 3


@dataclass(frozen=True)
class Header:
    class64: bool
    endian: str        # struct's byte-order character: "<" or ">"
    phoff: int
    shoff: int
    ehsize: int
    phentsize: int
    phnum: int
    shentsize: int
    shnum: int
    shstrndx: int


def header(data: bytes, name: str = "file") -> Header:
    """The ELF header's layout fields; ValueError, naming `name`, if `data` is not ELF."""
    if data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        raise ValueError(f"{name}: not an ELF file")
    class64, endian = data[4] == 2, "<" if data[5] == 1 else ">"
    # e_phoff, e_shoff, e_flags, e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
    layout, offset = ("QQIHHHHHH", 32) if class64 else ("IIIHHHHHH", 28)
    phoff, shoff, _, ehsize, phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(
        endian + layout, data, offset)
    return Header(class64, endian, phoff, shoff, ehsize, phentsize, phnum, shentsize, shnum, shstrndx)


def section_sizes(data: bytes, name: str = "file") -> dict[str, int]:
    """Section name -> size, from the section headers."""
    head = header(data, name)
    layout = head.endian + ("IIQQQQIIQQ" if head.class64 else "IIIIIIIIII")
    sections = [struct.unpack_from(layout, data, head.shoff + i * head.shentsize) for i in range(head.shnum)]
    names_offset = sections[head.shstrndx][4]

    def section_name(section):
        start = names_offset + section[0]
        return data[start:data.index(b"\0", start)].decode()
    return {section_name(section): section[5] for section in sections}


def has_interpreter(data: bytes, name: str = "file") -> bool:
    """Whether a PT_INTERP program header asks for a dynamic loader (ld.so and
    shared libraries). From the program headers, which even a file stripped of
    its section headers has."""
    head = header(data, name)
    return any(struct.unpack_from(head.endian + "I", data, head.phoff + i * head.phentsize)[0] == PT_INTERP
               for i in range(head.phnum))
