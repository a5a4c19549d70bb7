"""Protobuf wire encoding a column at a time: many messages of one shape turned into bytes with numpy.

Encoding message by message costs a Python object per field; here each field of every row is encoded at
once (tags, varints, fixed-width numbers, strings), and a message is the list of its parts, assembled in one
pass. A row without a field has zero bytes for it, which is how protobuf leaves out an unset field.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5


@dataclass(frozen=True)
class Bytes:
    """One byte string per row (empty for a row without one): every row's bytes end to end, and where each
    row's begin (``rows + 1`` offsets)."""

    data: np.ndarray
    offsets: np.ndarray

    @functools.cached_property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def row_bytes(self, start: int, stop: int) -> bytes:
        """Rows ``start`` to ``stop`` end to end: a repeated field's entries, as they go on the wire."""
        return self.data[self.offsets[start]:self.offsets[stop]].tobytes()


def _offsets(lengths: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def constant(value: bytes, present: np.ndarray) -> Bytes:
    """The same bytes in every row where ``present``."""
    count = int(present.sum())
    data = np.tile(np.frombuffer(value, dtype=np.uint8), count)
    return Bytes(data, _offsets(present.astype(np.int64) * len(value)))


def varint_size(values: np.ndarray) -> np.ndarray:
    """Bytes each unsigned value takes as a varint (1 to 10)."""
    values = values.astype(np.uint64)
    size = np.ones(len(values), dtype=np.int64)
    for shift in range(7, 64, 7):
        size += values >= (np.uint64(1) << np.uint64(shift))
    return size


def varint(values: np.ndarray, present: np.ndarray) -> Bytes:
    """Unsigned (or two's-complement 64-bit) integers as varints, where ``present``."""
    values = values[present].astype(np.int64).view(np.uint64)
    size = varint_size(values)
    width = int(size.max()) if len(size) else 1
    groups = np.stack([(values >> np.uint64(7 * k)) & np.uint64(0x7F) for k in range(width)], axis=1).astype(np.uint8)
    more = np.arange(width)[None, :] < (size - 1)[:, None]
    groups |= (more * 0x80).astype(np.uint8)
    data = groups[np.arange(width)[None, :] < size[:, None]]
    lengths = np.zeros(len(present), dtype=np.int64)
    lengths[present] = size
    return Bytes(data, _offsets(lengths))


def fixed(values: np.ndarray, present: np.ndarray, dtype: str) -> Bytes:
    """Numbers as little-endian fixed-width bytes (``<u8``, ``<f8``, ``<u4``), where ``present``."""
    chosen = np.ascontiguousarray(values[present].astype(dtype))
    width = chosen.dtype.itemsize
    return Bytes(chosen.view(np.uint8), _offsets(present.astype(np.int64) * width))


def strings(column: pa.Array | pa.ChunkedArray, present: np.ndarray) -> Bytes:
    """A string or binary column's bytes in the rows where ``present``; the other rows have none."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    column = column.cast(pa.large_binary())
    _, offset_buffer, data_buffer = column.buffers()
    offsets = np.frombuffer(offset_buffer, dtype=np.int64)[column.offset:column.offset + len(column) + 1]
    if np.diff(offsets)[~present].any():
        return spread(strings(column.filter(present), np.ones(int(present.sum()), dtype=bool)),
                      np.flatnonzero(present), len(present))
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    return Bytes(data[offsets[0]:offsets[-1]], offsets - offsets[0])


def varint_bytes(value: int) -> bytes:
    """One unsigned integer as a varint (for the few fields written once per message, not per row)."""
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def tag(field: int, wire_type: int) -> bytes:
    return varint_bytes((field << 3) | wire_type)


def field_bytes(field: int, payload: bytes) -> bytes:
    """One length-delimited field written once: tag, length, payload."""
    return tag(field, LENGTH_DELIMITED) + varint_bytes(len(payload)) + payload


Message = list[Bytes]
"""A message's parts in wire order; its bytes for a row are its parts' bytes for that row end to end."""


def size(message: Message) -> np.ndarray:
    return sum((part.lengths for part in message), np.zeros(len(message[0]), dtype=np.int64))


def length_delimited(field: int, message: Message, present: np.ndarray) -> Message:
    """``message`` as field ``field`` of its parent (tag, length, bytes) in the rows where ``present``."""
    return [constant(tag(field, LENGTH_DELIMITED), present), varint(size(message), present), *message]


def string_field(field: int, column: pa.Array | pa.ChunkedArray, present: np.ndarray) -> Message:
    return length_delimited(field, [strings(column, present)], present)


_COUNTING = np.arange(1 << 20, dtype=np.int64)


def _counting(n: int) -> np.ndarray:
    """0, 1, ... n-1 without allocating them again for every part."""
    global _COUNTING
    if n > len(_COUNTING):
        _COUNTING = np.arange(max(n, 2 * len(_COUNTING)), dtype=np.int64)
    return _COUNTING[:n]


def assemble(message: Message) -> Bytes:
    """Each row's parts end to end, in one copy per part."""
    offsets = _offsets(size(message))
    out = np.empty(int(offsets[-1]), dtype=np.uint8)
    within = offsets[:-1].copy()
    for part in message:
        lengths = part.lengths
        if len(part.data):
            _place(out, part, within)
        within += lengths
    return Bytes(out, offsets)


def _place(out: np.ndarray, part: Bytes, starts: np.ndarray) -> None:
    """Copy each row's bytes of ``part`` to ``out`` at that row's start (tags, fixed numbers and IDs, all
    rows one width, without the per-byte index a varying width needs)."""
    lengths = part.lengths
    present = lengths > 0
    widths = lengths[present]
    if (widths == widths[0]).all():
        first = starts[present]
        where = first if widths[0] == 1 else (first[:, None] + _counting(int(widths[0]))).ravel()
    else:
        where = np.repeat(starts - part.offsets[:-1], lengths)
        where += _counting(len(part.data))
    out[where] = part.data


def spread(rows: Bytes, where: np.ndarray, count: int) -> Bytes:
    """``rows`` placed at the increasing row indices ``where`` of ``count`` rows; the others empty."""
    lengths = np.zeros(count, dtype=np.int64)
    lengths[where] = rows.lengths
    return Bytes(rows.data, _offsets(lengths))


def gather(rows: Bytes, starts: np.ndarray) -> Bytes:
    """Runs of consecutive rows joined into one row each: row i is rows ``starts[i]`` to ``starts[i+1]``
    (a repeated field's entries per parent, when ``rows`` lists them parent by parent)."""
    return Bytes(rows.data, rows.offsets[starts])
