/* The plugin manifest: plain C, fixed layout, no pointers.
 *
 * Every plugin exports one `hive_plugin_manifest` object of this type, placed in
 * the ELF section "hive_manifest". Because it holds no pointers it needs no
 * relocation, so the kernel reads it straight from the file bytes and refuses an
 * incompatible plugin before dlopen runs a single static constructor of it.
 * Write it through HIVE_PLUGIN (hive/plugin.hpp), never by hand.
 *
 * Layout rule: fields are only ever appended; `manifest_size` tells the reader how
 * much of the struct the plugin was built with. */
#ifndef HIVE_MANIFEST_H
#define HIVE_MANIFEST_H
/* NOLINTBEGIN(modernize-*,readability-identifier-naming): a C header */

#include <stdint.h>

#include "hive/version.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HIVE_MANIFEST_MAGIC "HIVEPLG\x01"
#define HIVE_MANIFEST_MAGIC_SIZE 8
#define HIVE_MANIFEST_SECTION "hive_manifest"
#define HIVE_MANIFEST_SYMBOL "hive_plugin_manifest"
#define HIVE_CREATE_SYMBOL "hive_plugin_create"
#define HIVE_DESTROY_SYMBOL "hive_plugin_destroy"

#define HIVE_MAX_DEPENDENCIES 8
#define HIVE_MAX_SERVICES 8

typedef struct HiveManifestDependency {
  char name[48];  /* plugin name, e.g. "storage_sqlite" */
  char range[48]; /* semver range, e.g. ">=1.2.0 <2.0.0", "^1.2", "*" */
} HiveManifestDependency;

typedef struct HiveManifestService {
  char id[56];    /* service id without major, e.g. "hive.store" */
  uint32_t major; /* interface major version; 0 marks an unused slot */
} HiveManifestService;

typedef struct HiveManifest {
  char magic[HIVE_MANIFEST_MAGIC_SIZE];
  uint32_t manifest_size; /* sizeof(HiveManifest) the plugin was built with */
  uint16_t abi_major;
  uint16_t abi_minor;
  char toolchain[64];    /* compiler family, C++ library and its dual-ABI flag, arch */
  char asio_runtime[32]; /* "boost-1.81.0" when the plugin links the host's Asio runtime */
  char name[48];
  char version[32]; /* semver */
  char description[128];
  HiveManifestDependency dependencies[HIVE_MAX_DEPENDENCIES];
  HiveManifestService provides[HIVE_MAX_SERVICES];
  HiveManifestService requires_services[HIVE_MAX_SERVICES];
} HiveManifest;

#ifdef __cplusplus
}
#endif

/* NOLINTEND(modernize-*,readability-identifier-naming) */
#endif
