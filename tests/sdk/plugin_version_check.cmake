# cmake -DCXX=<compiler> -DSOURCE_DIR=<repository> -P tests/sdk/plugin_version_check.cmake
#
# HIVE_PLUGIN's .version must be the VERSION hive_add_plugin was given (passed
# as HIVE_PLUGIN_VERSION): tests/plugins/solo.cpp (.version = "1.0.0") compiles
# as VERSION 1.0.0, and does not as VERSION 2.0.0, with the reason.
set(compile ${CXX} -std=c++20 -fsyntax-only -I${SOURCE_DIR}/sdk/include -I${SOURCE_DIR}/tests/plugins
  ${SOURCE_DIR}/tests/plugins/solo.cpp)
execute_process(COMMAND ${compile} -DHIVE_PLUGIN_VERSION="1.0.0" RESULT_VARIABLE same ERROR_VARIABLE sameErrors)
if(NOT same EQUAL 0)
  message(FATAL_ERROR "solo.cpp as VERSION 1.0.0 does not compile:\n${sameErrors}")
endif()
execute_process(COMMAND ${compile} -DHIVE_PLUGIN_VERSION="2.0.0" RESULT_VARIABLE other ERROR_VARIABLE otherErrors)
if(other EQUAL 0)
  message(FATAL_ERROR "solo.cpp (.version 1.0.0) compiles as VERSION 2.0.0")
endif()
string(FIND "${otherErrors}" "differs from the VERSION given to hive_add_plugin" reason)
if(reason EQUAL -1)
  message(FATAL_ERROR "solo.cpp as VERSION 2.0.0 fails, but not for the version:\n${otherErrors}")
endif()
message(STATUS "a .version that differs from hive_add_plugin's VERSION does not compile")
