# The shipped configurations validate against the plugins of this build: every
# plugin section through its own configure(), as `hive check-config` does.
if(EXISTS ${PROJECT_SOURCE_DIR}/plugins/storage_postgres/CMakeLists.txt AND EXISTS ${PROJECT_SOURCE_DIR}/plugins/api/CMakeLists.txt)
  add_test(NAME config_embedded_default
    COMMAND ${CMAKE_COMMAND} -E env HIVE_PLUGIN_DIR=${CMAKE_BINARY_DIR}/plugins
      $<TARGET_FILE:hive> check-config -c ${PROJECT_SOURCE_DIR}/config/hive.yaml)
  add_test(NAME config_production
    COMMAND ${CMAKE_COMMAND} -E env HIVE_PLUGIN_DIR=${CMAKE_BINARY_DIR}/plugins
      DATABASE_URL=postgresql://hive:secret@127.0.0.1:5432/hive REDIS_URL=redis://127.0.0.1:6379
      $<TARGET_FILE:hive> check-config -c ${PROJECT_SOURCE_DIR}/config/production.yaml)
  set_tests_properties(config_embedded_default config_production PROPERTIES LABELS checks)
endif()
