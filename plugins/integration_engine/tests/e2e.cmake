# integration_engine in the real hive with a real remote agent: a signed
# webhook starts a workflow run once (a redelivery answers the same run), bad
# and stale signatures are 401, the run's events reach a local receiver that
# fails twice first, signed, each delivery accepted once; a task webhook maps
# the body into the payload; after a hot swap of integration_engine its
# subscription and recorded outcomes are still there. plugins/integration_engine/tests/integration_e2e.py --help.
if(_e2e_ready AND EXISTS ${PROJECT_SOURCE_DIR}/plugins/workflow_engine/CMakeLists.txt)
  add_test(NAME e2e_integration_webhooks COMMAND /usr/bin/python3
    ${CMAKE_CURRENT_LIST_DIR}/integration_e2e.py --hive $<TARGET_FILE:hive> --plugins ${CMAKE_BINARY_DIR}/plugins)
  set_tests_properties(e2e_integration_webhooks PROPERTIES LABELS "e2e;integrations" TIMEOUT 180 RUN_SERIAL TRUE)
endif()
