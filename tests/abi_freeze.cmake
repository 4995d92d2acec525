# SDK ABI freeze: the public headers must match sdk/abi/<major>.<minor>.sha256
# for the ABI version in sdk/include/hive/version.h (see scripts/freeze-sdk).
find_program(HIVE_BASH bash REQUIRED)

add_test(NAME sdk_abi_freeze
  COMMAND ${HIVE_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/sdk_abi_freeze.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(sdk_abi_freeze PROPERTIES LABELS checks)

# The checker and scripts/freeze-sdk themselves, on a copy of sdk/ in a temp dir.
add_test(NAME sdk_abi_freeze_selftest
  COMMAND ${HIVE_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/sdk_abi_freeze_selftest.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(sdk_abi_freeze_selftest PROPERTIES LABELS checks)
