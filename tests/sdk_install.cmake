# The SDK as a plugin author gets it: install, then build examples/hello_plugin and a
# `hive plugin new` skeleton against the install only. Compiles two projects, so it
# runs alone.
add_test(NAME sdk_install
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/sdk_install_test.sh ${CMAKE_BINARY_DIR} ${PROJECT_SOURCE_DIR})
set_tests_properties(sdk_install PROPERTIES LABELS sdk TIMEOUT 600 RUN_SERIAL TRUE)
