#pragma once
// The whole public API of sluice. Each layer can also be included on its own
// (<sluice/channel/channel.hpp>, <sluice/arrow/ipc.hpp>, ...); see
// docs/ARCHITECTURE.md for what each layer holds.

#include <sluice/config.hpp>
#include <sluice/version.hpp>

#include <sluice/base/assert.hpp>
#include <sluice/base/atomic.hpp>
#include <sluice/base/error.hpp>
#include <sluice/base/json.hpp>
#include <sluice/base/result.hpp>
#include <sluice/base/units.hpp>

#include <sluice/os/clock.hpp>
#include <sluice/os/eventfd.hpp>
#include <sluice/os/futex.hpp>
#include <sluice/os/mapping.hpp>
#include <sluice/os/process.hpp>
#include <sluice/os/robust_mutex.hpp>
#include <sluice/os/shm.hpp>

#include <sluice/layout/scan.hpp>
#include <sluice/layout/segment.hpp>
#include <sluice/layout/segment_layout.hpp>

#include <sluice/alloc/chunk.hpp>
#include <sluice/alloc/config.hpp>
#include <sluice/alloc/free_list.hpp>
#include <sluice/alloc/heap.hpp>
#include <sluice/alloc/heap_layout.hpp>
#include <sluice/alloc/tlsf_bins.hpp>

#include <sluice/ring/byte_ring.hpp>
#include <sluice/ring/descriptor.hpp>
#include <sluice/ring/mpmc_ring.hpp>
#include <sluice/ring/ring_header.hpp>
#include <sluice/ring/spsc_ring.hpp>
#include <sluice/ring/word_copy.hpp>

#include <sluice/channel/channel.hpp>
#include <sluice/channel/control.hpp>
#include <sluice/channel/domain.hpp>

#include <sluice/arrow/array.hpp>
#include <sluice/arrow/buffer.hpp>
#include <sluice/arrow/builder.hpp>
#include <sluice/arrow/c_data.hpp>
#include <sluice/arrow/compare.hpp>
#include <sluice/arrow/ipc.hpp>
#include <sluice/arrow/print.hpp>
#include <sluice/arrow/sample.hpp>
#include <sluice/arrow/type.hpp>
#include <sluice/arrow/validate.hpp>

#include <sluice/batch/batch_channel.hpp>
#include <sluice/batch/vgis.hpp>
