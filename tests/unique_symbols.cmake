# No plugin may carry an STB_GNU_UNIQUE symbol: glibc never unmaps such a library,
# so hot reload could not unload it (DESIGN.md, "Traps measured on this machine").
# The directories are only read when the test runs, after the build has filled them.
find_program(HIVE_BASH bash REQUIRED)

# Every directory the build writes plugins to; the in-tree plugin directory
# joins once plugins/ holds a plugin.
set(HIVE_UNIQUE_SYMBOL_DIRS ${HIVE_TEST_PLUGIN_DIR} ${CMAKE_BINARY_DIR}/swap_plugins ${CMAKE_BINARY_DIR}/bench_plugins)
file(GLOB HIVE_IN_TREE_PLUGINS LIST_DIRECTORIES true ${PROJECT_SOURCE_DIR}/plugins/*/CMakeLists.txt)
if(HIVE_IN_TREE_PLUGINS)
  list(APPEND HIVE_UNIQUE_SYMBOL_DIRS ${HIVE_PLUGIN_OUTPUT_DIRECTORY})
endif()

# A deliberately broken test plugin that must keep its UNIQUE symbols can be
# exempted with `--allow <file-name-glob>` before the directories.
add_test(NAME unique_symbols
  COMMAND ${HIVE_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/check_unique_symbols.sh ${HIVE_UNIQUE_SYMBOL_DIRS})
set_tests_properties(unique_symbols PROPERTIES LABELS checks)

# The checker itself, on libraries the self-test compiles with g++.
add_test(NAME unique_symbols_selftest
  COMMAND ${HIVE_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/unique_symbols_selftest.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(unique_symbols_selftest PROPERTIES LABELS checks)
