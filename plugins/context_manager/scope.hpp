// Context scopes: what a context belongs to, written `kind:name`, and the
// tenant (hive.tenancy/1) whose context it is.
#pragma once

#include <string>
#include <string_view>
#include <tuple>

#include "hive/status.hpp"

namespace hive::context_manager {

// `project:<name>`, `run:<id>`, `agent:<name>` or `task:<id>`; the name is 1..100
// characters of [A-Za-z0-9._-] (what task, run and agent ids and names are made
// of), so a scope is safe in a path segment, a file name and a store index.
Status checkScope(const std::string& scope);

// A context: one tenant's scope. The same scope of two tenants is two
// contexts that share nothing (entries, search index, compressions).
struct ScopeRef {
  std::string tenant;  // "" the default tenant
  std::string scope;   // kind:name

  bool operator==(const ScopeRef&) const = default;
  bool operator<(const ScopeRef& other) const {
    return std::tie(tenant, scope) < std::tie(other.tenant, other.scope);
  }
  // How logs and errors name it: the scope, "<scope> of tenant <tenant>" for a named tenant.
  std::string text() const;
};

// The value a context is indexed under in the store: the scope for the default
// tenant (what entries written before tenancy hold, so they stay its own),
// "<tenant>/<scope>" for another ('/' is in no scope; a tenant longer than 40
// characters is shortened with its hash, as workflow_engine keys a tenant's
// workflow names, to bound the index value). A shortened tenant may share a
// key with another: every read also checks the tenant kept in the document.
std::string scopeKey(const ScopeRef& context);

// The file name, without extension, of a context's search graph: the scope
// for the default tenant, "<tenant>@<scope>" for another, with the characters
// a file name cannot hold replaced (the graph is checked against the store
// when loaded, so two contexts that would share a file lose nothing).
std::string indexFileStem(const ScopeRef& context);

// A tenant a caller that spans tenants may name (`?tenant=`): "" (the
// default tenant) or 1..64 of [A-Za-z0-9._-], as security_manager accepts them.
Status checkTenant(std::string_view tenant);

}  // namespace hive::context_manager
