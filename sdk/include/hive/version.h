/* Hive SDK version and ABI numbers.
 *
 * ABI rule: within one HIVE_SDK_ABI_MAJOR an existing interface never changes.
 * New capability arrives as a new interface or service id and bumps
 * HIVE_SDK_ABI_MINOR. A plugin built for a newer minor than the host provides is
 * refused (it may call what the host does not have); an older minor is accepted.
 * tests/sdk_abi_freeze checks the headers against sdk/abi/<major>.<minor>.sha256. */
#ifndef HIVE_VERSION_H
#define HIVE_VERSION_H

#define HIVE_SDK_ABI_MAJOR 2
#define HIVE_SDK_ABI_MINOR 12

#endif
