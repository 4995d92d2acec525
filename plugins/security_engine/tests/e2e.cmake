# The secrets vault in the real hive with security_manager on SQLite
# (tests/e2e/security_secrets_e2e.py --help): `hive secrets set` from stdin with
# no hive running, the routes with admin/viewer/no key, master key rotation
# through the CLI, and no value in the data directory, the debug log or any
# CLI output.
if(_e2e_ready AND EXISTS ${PROJECT_SOURCE_DIR}/plugins/security_manager/CMakeLists.txt)
  add_test(NAME e2e_security_secrets COMMAND /usr/bin/python3 ${_e2e_tests_dir}/security_secrets_e2e.py
    --hive $<TARGET_FILE:hive> --plugins ${CMAKE_BINARY_DIR}/plugins)
  set_tests_properties(e2e_security_secrets PROPERTIES LABELS "e2e;security" TIMEOUT 120 RUN_SERIAL TRUE)
endif()
