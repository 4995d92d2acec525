// Checks of names, ids and bounds from hive/services/store.hpp, shared by every
// operation so that bad input is refused before any SQL runs.
#pragma once

#include <string>

#include "hive/services/store.hpp"
#include "hive/services/store_names.hpp"
#include "hive/status.hpp"

namespace hive::storage_postgres {

struct Limits {
  std::size_t maxDocumentBytes = 1 << 20;
  std::size_t maxPayloadBytes = 1 << 20;
  std::size_t maxEventBytes = 1 << 20;
};

// Names, ids and indexed field names, as every provider checks them.
using store::checkFieldName;
using store::checkId;
using store::checkName;
// Short caller-supplied strings (claimant, lease token, event type, idempotency key).
Status checkShortText(const std::string& text, const char* what, std::size_t maxBytes);
// Index values are stored in jsonb: valid UTF-8 without NUL, at most 1024 bytes.
Status checkIndexValue(const std::string& field, const std::string& value);

Status checkEnqueue(const store::EnqueueRequest& request, const Limits& limits);
Status checkClaim(const store::ClaimRequest& request);
Status checkLease(std::chrono::milliseconds lease);

}  // namespace hive::storage_postgres
