# hive_add_plugin(NAME <name> VERSION <semver> SOURCES <files...>
#                 [ASIO] [LINK_LIBRARIES <libs...>] [OUTPUT_DIRECTORY <dir>])
#
# Builds <name>-<version>.so (no "lib" prefix), loadable by the Hive kernel, and
# <name>_objects, an object library of the same sources that unit tests link
# directly. Applies the flags a hot-swappable plugin needs:
#   -fvisibility=hidden -fvisibility-inlines-hidden  only the entry points are exported
#   -fno-gnu-unique   no STB_GNU_UNIQUE symbols, which would make dlclose a no-op
#   -Wl,-z,defs       every symbol resolved at link time, not at load time
# ASIO links the host's shared Asio/Beast runtime (required for hive/asio.hpp).
# The sources see HIVE_PLUGIN_NAME and HIVE_PLUGIN_VERSION (string literals of
# NAME and VERSION); a HIVE_PLUGIN whose .version differs does not compile.
include_guard(GLOBAL)

function(hive_add_plugin)
  cmake_parse_arguments(PLUGIN "ASIO" "NAME;VERSION;OUTPUT_DIRECTORY" "SOURCES;LINK_LIBRARIES" ${ARGN})
  if(NOT PLUGIN_NAME OR NOT PLUGIN_VERSION OR NOT PLUGIN_SOURCES)
    message(FATAL_ERROR "hive_add_plugin: NAME, VERSION and SOURCES are required")
  endif()
  if(NOT PLUGIN_NAME MATCHES "^[a-z][a-z0-9_]*$")
    message(FATAL_ERROR "hive_add_plugin: NAME '${PLUGIN_NAME}' must match [a-z][a-z0-9_]*")
  endif()
  if(NOT PLUGIN_VERSION MATCHES "^[0-9]+\\.[0-9]+\\.[0-9]+")
    message(FATAL_ERROR "hive_add_plugin: VERSION '${PLUGIN_VERSION}' is not semver")
  endif()

  set(objects ${PLUGIN_NAME}_objects)
  add_library(${objects} OBJECT ${PLUGIN_SOURCES})
  set_target_properties(${objects} PROPERTIES POSITION_INDEPENDENT_CODE ON
    CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  target_compile_features(${objects} PUBLIC cxx_std_20)
  # GCC only: clang has no such flag and emits no STB_GNU_UNIQUE (the fuzz build).
  target_compile_options(${objects} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-fno-gnu-unique>)
  target_link_libraries(${objects} PUBLIC Hive::sdk ${PLUGIN_LINK_LIBRARIES})
  # The version is written once, here: HIVE_PLUGIN's .version must equal it
  # (a static_assert in the macro), and the code may use it as HIVE_PLUGIN_VERSION.
  target_compile_definitions(${objects} PRIVATE HIVE_PLUGIN_NAME="${PLUGIN_NAME}"
    HIVE_PLUGIN_VERSION="${PLUGIN_VERSION}")
  if(PLUGIN_ASIO)
    target_link_libraries(${objects} PUBLIC Hive::asio_runtime)
  endif()

  add_library(${PLUGIN_NAME} MODULE $<TARGET_OBJECTS:${objects}>)
  target_link_libraries(${PLUGIN_NAME} PRIVATE ${objects})
  target_link_options(${PLUGIN_NAME} PRIVATE -Wl,-z,defs)
  if(NOT PLUGIN_OUTPUT_DIRECTORY)
    if(DEFINED HIVE_PLUGIN_OUTPUT_DIRECTORY)
      set(PLUGIN_OUTPUT_DIRECTORY ${HIVE_PLUGIN_OUTPUT_DIRECTORY})
    else()
      set(PLUGIN_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
    endif()
  endif()
  set_target_properties(${PLUGIN_NAME} PROPERTIES
    PREFIX ""
    OUTPUT_NAME "${PLUGIN_NAME}-${PLUGIN_VERSION}"
    LIBRARY_OUTPUT_DIRECTORY ${PLUGIN_OUTPUT_DIRECTORY})
endfunction()
