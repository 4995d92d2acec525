# optimization_engine in the real hive (plugins/optimization_engine/tests/concurrency_e2e.py
# --help): a remote agent that slows down gets its adaptive concurrency limit
# cut to at most 2 within seconds, and the dispatcher obeys it.
if(_e2e_ready AND EXISTS ${PROJECT_SOURCE_DIR}/plugins/optimization_engine/CMakeLists.txt)
  add_test(NAME e2e_optimization_concurrency COMMAND /usr/bin/python3
    ${CMAKE_CURRENT_LIST_DIR}/concurrency_e2e.py --hive $<TARGET_FILE:hive> --plugins ${CMAKE_BINARY_DIR}/plugins)
  set_tests_properties(e2e_optimization_concurrency PROPERTIES LABELS "e2e;optimization" TIMEOUT 180
    RUN_SERIAL TRUE)
endif()
