# Workflows in the real hive with a real remote agent (tests/e2e/workflow_e2e.py --help):
# - diamond: the issue's diamond as is, results flowing into later payloads,
#   events on the WebSocket;
# - crashes: a run of 202 steps (8 parallel branches, 25 deep) through 5
#   SIGKILLs of hive, each step's task submitted exactly once;
# - swaps: the same run through 10 hot swaps of workflow_engine, each step's
#   task submitted exactly once, no error logged;
# - map: a map step of 24 items, 4 at a time, through 3 SIGKILLs: every item's
#   task exactly once, the results in the list's order;
# - cli: `hive workflow apply|start|runs|list` against it, a broken YAML file
#   refused with FILE:LINE:COL of each mistake;
# - nodes: two hives on one PostgreSQL database, a schedule firing every second
#   for 12 s: one run per fire, none missing;
# - child: a sub-workflow's run through 2 SIGKILLs: one child run, one task per
#   child step, its outputs in the parent's next payload.
if(_e2e_ready AND EXISTS ${PROJECT_SOURCE_DIR}/plugins/workflow_engine/CMakeLists.txt)
  set(_workflow_e2e ${_e2e_tests_dir}/workflow_e2e.py --hive $<TARGET_FILE:hive>
    --plugins ${CMAKE_BINARY_DIR}/plugins)
  add_test(NAME e2e_workflow_diamond COMMAND /usr/bin/python3 ${_workflow_e2e} --scenario diamond)
  add_test(NAME e2e_workflow_crashes COMMAND /usr/bin/python3 ${_workflow_e2e} --scenario crash --crashes 5 --layers 25 --sleep-ms 600)
  add_test(NAME e2e_workflow_swaps COMMAND /usr/bin/python3 ${_workflow_e2e} --scenario swap --swaps 10 --layers 25 --sleep-ms 600)
  set_tests_properties(e2e_workflow_swaps PROPERTIES LABELS "e2e" TIMEOUT 300 RUN_SERIAL TRUE)
  add_test(NAME e2e_workflow_map COMMAND /usr/bin/python3 ${_workflow_e2e} --scenario map --crashes 3)
  add_test(NAME e2e_workflow_cli COMMAND /usr/bin/python3 ${_workflow_e2e} --scenario cli)
  set_tests_properties(e2e_workflow_cli PROPERTIES LABELS "e2e" TIMEOUT 300 RUN_SERIAL TRUE)
  add_test(NAME e2e_workflow_nodes COMMAND /usr/bin/python3 ${_workflow_e2e} --scenario nodes --seconds 12)
  set_tests_properties(e2e_workflow_nodes PROPERTIES LABELS "e2e;postgres" TIMEOUT 300 RUN_SERIAL TRUE)
  add_test(NAME e2e_workflow_child COMMAND /usr/bin/python3 ${_workflow_e2e} --scenario child)
  set_tests_properties(e2e_workflow_child PROPERTIES LABELS "e2e" TIMEOUT 300 RUN_SERIAL TRUE)
  set_tests_properties(e2e_workflow_diamond PROPERTIES LABELS "e2e" TIMEOUT 300 RUN_SERIAL TRUE)
  set_tests_properties(e2e_workflow_crashes PROPERTIES LABELS "e2e" TIMEOUT 600 RUN_SERIAL TRUE)
  set_tests_properties(e2e_workflow_map PROPERTIES LABELS "e2e" TIMEOUT 300 RUN_SERIAL TRUE)
endif()
