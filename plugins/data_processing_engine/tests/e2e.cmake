# A batch of 600 items in 60 chunks in the real hive with a real remote agent,
# through 2 SIGKILLs of hive and a hot swap of data_processing_engine: it
# succeeds, the output has every item in order, and task_manager holds exactly
# one task per chunk. plugins/data_processing_engine/tests/batches_e2e.py --help.
if(_e2e_ready AND EXISTS ${PROJECT_SOURCE_DIR}/plugins/data_processing_engine/CMakeLists.txt)
  add_test(NAME e2e_batches_crashes COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/batches_e2e.py
    --hive $<TARGET_FILE:hive> --plugins ${CMAKE_BINARY_DIR}/plugins)
  set_tests_properties(e2e_batches_crashes PROPERTIES LABELS "e2e;tasks" TIMEOUT 240 RUN_SERIAL TRUE)
endif()
