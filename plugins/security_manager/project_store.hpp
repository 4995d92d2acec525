// Where projects live: the `security_projects` collection of hive.store/1, so
// that nodes sharing a store share projects. A project is a tenant's: its id
// is "<tenant>/<name>" (a tenant that would make it too long is shortened to
// its hash). Every change adds 1 to the counter `security_projects.changes` in
// the same unit of work, so that other nodes notice it by reading one counter.
//
// Every call blocks on the store: run it on the blocking executor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hive/services.hpp"
#include "hive/services/store.hpp"
#include "hive/status.hpp"

namespace hive::security_manager {

inline constexpr const char* kProjectsCollection = "security_projects";
inline constexpr const char* kProjectChangesCounter = "security_projects.changes";

struct ProjectRecord {
  std::string tenant;  // "" the default tenant
  std::string name;
  std::string description;
  std::string createdBy;
  std::int64_t createdAtMs = 0;
  // Not 0 while it is being erased: it no longer takes objects, and DELETE
  // again finishes an erasure that failed half-way.
  std::int64_t erasingSinceMs = 0;
};

std::string projectJson(const ProjectRecord& record);

class ProjectStore {
 public:
  explicit ProjectStore(ServiceHandle<store::Store> store) : store_(std::move(store)) {}

  Status open();
  // kAlreadyExists when the tenant has a project of that name.
  Status create(const ProjectRecord& record);
  // kNotFound when there is no such project.
  Result<ProjectRecord> get(const std::string& tenant, const std::string& name);
  // Marks it being erased (once; a later call keeps the first time).
  Result<ProjectRecord> markErasing(const std::string& tenant, const std::string& name, std::int64_t nowMs);
  // Deletes the record (after its objects were erased); kNotFound when gone.
  Status remove(const std::string& tenant, const std::string& name);
  // Every project, or one tenant's, in id order; at most `limit`.
  Result<std::vector<ProjectRecord>> all(std::size_t limit, const std::string* tenant = nullptr);
  Result<std::int64_t> changes();

 private:
  ServiceHandle<store::Store> store_;
};

}  // namespace hive::security_manager
