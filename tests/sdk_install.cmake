# The installed SDK package, used as a third-party author would.
add_test(NAME sdk_install
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/sdk_install_test.sh ${CMAKE_BINARY_DIR} ${PROJECT_SOURCE_DIR})
set_tests_properties(sdk_install PROPERTIES LABELS sdk TIMEOUT 900 RUN_SERIAL TRUE)
