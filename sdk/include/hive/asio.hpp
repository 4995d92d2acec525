// For plugins that do network I/O: the kernel's io_context.
//
// Such plugins must link the host's shared Asio/Beast runtime
// (hive_add_plugin(... ASIO)), never a header-only copy of Asio: a second copy
// of Asio's per-thread state inside a plugin crashes the kernel's scheduler.
#pragma once

#ifndef HIVE_ASIO_RUNTIME_VERSION
#error \
    "hive/asio.hpp needs the host's Asio runtime: use hive_add_plugin(NAME ... ASIO) or link Hive::asio_runtime"
#endif

#include <boost/asio/io_context.hpp>

#include "hive/context.hpp"

namespace hive {

inline boost::asio::io_context& ioContext(PluginContext& context) {
  return *static_cast<boost::asio::io_context*>(context.nativeIoContext());
}

}  // namespace hive
