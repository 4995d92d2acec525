# context_manager in the real hive (plugins/context_manager/tests/context_e2e.py --help):
# REST and its refusals, permissions, search, the graph file loaded after SIGTERM,
# repaired from the store after kill -9, rebuilt when torn.
if(_e2e_ready AND EXISTS ${PROJECT_SOURCE_DIR}/plugins/context_manager/CMakeLists.txt)
  add_test(NAME e2e_context COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/context_e2e.py
    --hive $<TARGET_FILE:hive> --plugins ${CMAKE_BINARY_DIR}/plugins --tests-dir ${_e2e_tests_dir})
  set_tests_properties(e2e_context PROPERTIES LABELS "e2e;context" TIMEOUT 300 RUN_SERIAL TRUE)
endif()
