// The service manager's readiness protocol (sd_notify(3)): under systemd with
// Type=notify, Hive says READY=1 once its plugins have started, RELOADING=1 /
// READY=1 around a SIGHUP reload and STOPPING=1 when a stop begins. Outside
// systemd ($NOTIFY_SOCKET unset) every call does nothing.
#pragma once

#include <string_view>

namespace hive::host {

// Sends `state` (newline-separated KEY=VALUE lines) to $NOTIFY_SOCKET. Never
// blocks for long and never fails the caller: a refused datagram is only
// reported through the return value (false).
bool notifyServiceManager(std::string_view state);

// "RELOADING=1" with the MONOTONIC_USEC=... that systemd 253+ asks of Type=notify-reload.
bool notifyReloading();

}  // namespace hive::host
