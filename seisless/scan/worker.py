"""One worker's job: the attribute table of one trace range, in bounded memory."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from seisless.scan.attributes import ATTRIBUTE_SCHEMA, AttributeKernel
from seisless.scan.plan import ScanOptions, TraceRange
from seisless.segy import ByteSource, Layout, iter_raw_blocks
from seisless.segy.decode import BLOCK_BYTES


def scan_range(source: ByteSource, layout: Layout, item: TraceRange,
               options: ScanOptions | None = None, *, block_bytes: int = BLOCK_BYTES,
               progress: Callable[[int], None] | None = None) -> pa.Table:
    """Attributes of the traces of `item`, read block by block into one reused buffer.

    Memory is one block plus the kernel's cache-sized scratch, whatever the range size;
    `progress` is called with the bytes done after each block.
    """
    options = options or ScanOptions()
    kernel = AttributeKernel(layout, options.keys)
    tables = []
    for block in iter_raw_blocks(source, layout, item.first_trace, item.n_traces,
                                 block_bytes):
        tables.append(kernel.table(block))
        if progress is not None:
            progress(block.n_traces * layout.trace_length)
    if not tables:
        return ATTRIBUTE_SCHEMA.empty_table()
    return pa.concat_tables(tables).combine_chunks()
