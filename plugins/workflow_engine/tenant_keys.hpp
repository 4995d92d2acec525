// Workflow names and run Idempotency-Keys are per tenant (hive.tenancy/1):
// the store ids they are kept under.
#pragma once

#include <string>
#include <string_view>

namespace hive::workflow_engine {

// The store id of a tenant's workflow name: the name for the default tenant,
// "<tenant>/<name>" for another ('/' is in neither; a tenant longer than 40
// characters is shortened with its hash, so that "<key>@<version>" fits an id).
std::string workflowKey(std::string_view tenant, std::string_view name);
// The store id of a run's Idempotency-Key: the key for the default tenant,
// "~<tenant>~<key>" for another ('~' starts no client's key and is in no
// tenant's name), the key's hash in place of a key too long for that.
std::string runKeyId(std::string_view tenant, std::string_view key);

}  // namespace hive::workflow_engine
