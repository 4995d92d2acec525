# resource_manager in the real hive (tests/e2e/resources_quota_e2e.py --help): a
# running process-agent job sampled by GET /api/v2/resources, and a job over
# its memory quota killed with the quota named in its task's error.
if(_e2e_ready AND EXISTS ${PROJECT_SOURCE_DIR}/plugins/resource_manager/CMakeLists.txt)
  add_test(NAME e2e_resources_quota COMMAND /usr/bin/python3 ${_e2e_tests_dir}/resources_quota_e2e.py
    --hive $<TARGET_FILE:hive> --plugins ${CMAKE_BINARY_DIR}/plugins)
  set_tests_properties(e2e_resources_quota PROPERTIES LABELS "e2e;resources" TIMEOUT 120 RUN_SERIAL TRUE)
endif()
