# hive_add_plugin's VERSION and HIVE_PLUGIN's .version cannot differ: such a
# plugin does not compile (tests/sdk/plugin_version_check.cmake).
add_test(NAME sdk_plugin_version_check COMMAND ${CMAKE_COMMAND} -DCXX=${CMAKE_CXX_COMPILER}
  -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -P ${CMAKE_CURRENT_SOURCE_DIR}/sdk/plugin_version_check.cmake)
set_tests_properties(sdk_plugin_version_check PROPERTIES LABELS sdk)
