# Traces in the real hive (tests/e2e/monitoring_traces_e2e.py --help): a task's
# traceparent on the task, in a process agent's stdin and a remote agent's
# task.assign, its spans at a local OTLP/HTTP receiver; a dead collector is
# only counted.
if(_e2e_ready AND EXISTS ${PROJECT_SOURCE_DIR}/plugins/monitoring_engine/CMakeLists.txt)
  add_test(NAME e2e_monitoring_traces COMMAND /usr/bin/python3 ${_e2e_tests_dir}/monitoring_traces_e2e.py
    --hive $<TARGET_FILE:hive> --plugins ${CMAKE_BINARY_DIR}/plugins)
  set_tests_properties(e2e_monitoring_traces PROPERTIES LABELS "e2e;monitoring" TIMEOUT 120 RUN_SERIAL TRUE)
endif()
